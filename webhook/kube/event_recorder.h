#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "kube/api_client.h"

namespace coderun::kube {

struct ObjectReference {
  std::string api_version, kind, namespace_name, name;
};

// One events.k8s.io/v1 Event to report.
struct EventRecord {
  ObjectReference regarding;
  std::string type = "Normal";  // Normal | Warning
  std::string reason;           // Mutated | Denied | EventParseFailed
  std::string action = "Admit";
  std::string note;  // at most 1 kB (the API server's limit); longer is cut
};

// Posts Events off the request path, as client-go's recorder does: a bounded queue (a full
// queue drops and counts), one sender thread, retries with exponential backoff, and isomorphic
// events within 6 minutes aggregated into the first one's series.count.
class EventRecorder {
 public:
  enum class Outcome { kPosted, kFailed, kDropped };

  struct Options {
    std::string reporting_controller = "taskmaster.io/coderun-webhook";
    std::string reporting_instance;  // the pod name
    size_t queue_capacity = 1000;
    int max_attempts = 5;
    std::chrono::milliseconds first_backoff{200};
    std::chrono::minutes series_window{6};
  };

  // post(path, body) and patch(path, body) reach the API server; an ApiClient in production.
  struct Transport {
    std::function<ApiResult(const std::string&, const std::string&)> post;
    std::function<ApiResult(const std::string&, const std::string&)> merge_patch;
  };

  EventRecorder(Transport transport, Options options, std::function<void(Outcome)> observe = {});
  ~EventRecorder();  // sends what is queued for up to 2 s, then stops
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  // Never blocks on the network; returns false when the queue was full and the event dropped.
  bool record(EventRecord event);

  static Transport over(ApiClient& client);
  // The Event object as posted (also used by tests).
  nlohmann::json event_object(const EventRecord& event, const std::string& name,
                              std::chrono::system_clock::time_point when) const;

 private:
  struct Series {
    std::string name;
    std::string namespace_name;
    int count = 0;
    std::chrono::system_clock::time_point first, last;
    bool created = false;
  };
  struct Pending {
    EventRecord event;
    std::chrono::system_clock::time_point when;
  };

  void run();
  void send(const Pending& pending);
  ApiResult with_retries(const std::function<ApiResult()>& call);
  static std::string key_of(const EventRecord& event);

  Transport transport_;
  Options options_;
  std::function<void(Outcome)> observe_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stop_deadline_;
  std::map<std::string, Series> series_;  // sender thread only
  std::thread sender_;
};

// events.k8s.io MicroTime: 2006-01-02T15:04:05.000000Z
std::string micro_time(std::chrono::system_clock::time_point when);

}  // namespace coderun::kube
