#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "kube/api_client.h"
#include "kube/kube_config.h"
#include "kube/token_buckets.h"
#include "observability/log_throttle.h"

namespace coderun::observability {
class JsonLog;
}

namespace coderun::kube {

struct ObjectReference {
  std::string api_version, kind, namespace_name, name;
  std::string uid;  // metadata.uid when the admission saw it (the validating pass does)
};

// How to confirm that the object an Event regards was stored: the validating webhook answers
// before the API server stores the object, and the create can still fail after it (AlreadyExists,
// quota, a later webhook). The recorder GETs `path` and posts only when the object is there with
// this uid.
struct StoredCheck {
  std::string path;  // /apis/<group>/<version>/namespaces/<ns>/<plural>/<name>
  std::string uid;   // empty: any object of that name counts
};

// One events.k8s.io/v1 Event to report.
struct EventRecord {
  ObjectReference regarding;
  std::string type = "Normal";  // Normal | Warning
  std::string reason;           // Mutated | Denied | EventParseFailed
  std::string action = "Admit";
  std::string note;                    // at most 1 kB (the API server's limit); longer is cut
  std::optional<StoredCheck> confirm;  // post only once the object is confirmed stored
};

// Posts Events off the request path, as client-go's recorder does, and keeps pace with admission:
// several senders (each its own keep-alive connection), identical events coalesced into one
// series update while they wait, the API server's 429 Retry-After and 5xx answered with backoff,
// a token bucket per object and reason, and a bounded queue (full: counted, logged, dropped).
// Isomorphic events within 6 minutes are aggregated into the first one's series.count.
class EventRecorder {
 public:
  // Per event recorded (a coalesced series update reports each event it carries):
  // kUnstored: the object it regards was never stored (or is another object now);
  // kThrottled: its object's token bucket was empty.
  enum class Outcome { kPosted, kFailed, kDropped, kUnstored, kThrottled };

  struct Options {
    std::string reporting_controller = "taskmaster.io/coderun-webhook";
    std::string reporting_instance;  // the pod name
    size_t queue_capacity = 1000;    // events waiting (coalesced ones count once)
    size_t senders = 4;              // requests in flight
    int max_attempts = 5;            // per request, for connection errors and 5xx
    std::chrono::milliseconds first_backoff{200};
    std::chrono::milliseconds max_backoff{5000};
    std::chrono::seconds max_retry_after{30};  // a longer Retry-After is cut to this
    std::chrono::minutes series_window{6};
    // Storage completes after the validating webhook answers: GETs of a not-yet-stored object
    // are retried from confirm_backoff (doubling, at most 200 ms apart) for confirm_window.
    std::chrono::milliseconds confirm_backoff{50};
    std::chrono::milliseconds confirm_window{5000};
    double spam_burst = 25;
    std::chrono::seconds spam_refill{300};
    std::chrono::milliseconds drain_grace{10000};  // what the destructor allows stop()
  };

  // What the recorder needs of the API server; an ApiClient in production.
  struct Transport {
    std::function<ApiResult(const std::string&, const std::string&)> post;
    std::function<ApiResult(const std::string&, const std::string&)> merge_patch;
    std::function<ApiResult(const std::string&)> get;
  };
  // Called once per sender, in the constructor: each sender owns what it returns.
  using TransportFactory = std::function<Transport()>;

  struct Stats {
    long dropped = 0;    // queue full, or left at shutdown
    long throttled = 0;  // token bucket empty
    size_t queued = 0;
  };

  EventRecorder(TransportFactory transports, Options options,
                std::function<void(Outcome)> observe = {},
                const observability::JsonLog* log = nullptr);
  // One transport shared by every sender: it must be thread-safe.
  EventRecorder(Transport shared, Options options, std::function<void(Outcome)> observe = {},
                const observability::JsonLog* log = nullptr);
  ~EventRecorder();  // stop(options.drain_grace)
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  // Never blocks on the network; false when the event was throttled or dropped.
  bool record(EventRecord event);
  // Keeps sending for at most `grace`, then stops; what is left is counted as dropped and logged
  // with its count. Returns that count. Later calls return 0.
  long stop(std::chrono::milliseconds grace);
  Stats stats() const;
  // The metrics label: posted, failed, dropped, unstored, throttled.
  static const char* outcome_name(Outcome outcome);

  // A client per sender, over the kubeconfig (throws KubeConfigError as ApiClient does).
  static TransportFactory over(const KubeConfig& config);
  // The Event object as posted (also used by tests); series when count > 1.
  nlohmann::json event_object(const EventRecord& event, const std::string& name,
                              std::chrono::system_clock::time_point when, long count = 1,
                              std::chrono::system_clock::time_point last = {}) const;

 private:
  using Steady = std::chrono::steady_clock;
  struct Series {
    std::string name;
    long count = 0;
    std::chrono::system_clock::time_point last;
  };
  struct Pending {
    EventRecord event;
    std::string key;
    long count = 1;  // identical events coalesced into this one
    std::chrono::system_clock::time_point first, last;
    Steady::time_point not_before{};  // a retry's backoff
    int attempts = 0;                 // failed requests (connection errors, 5xx)
    std::chrono::milliseconds confirm_backoff{0};
    Steady::time_point confirm_until{};
    bool confirmed = false;
    std::string event_name;  // chosen at the first POST
  };
  enum class Step { kDone, kRetry };
  struct Result {
    Step step;
    Outcome outcome;
  };
  using Queue = std::list<Pending>;

  void run(Transport transport);
  std::optional<Queue::iterator> next_ready(Steady::time_point now,
                                            Steady::time_point& wake_at);
  Result attempt(Transport& transport, Pending& pending);
  Result confirm(Transport& transport, Pending& pending);
  Result send(Transport& transport, Pending& pending);
  Result retry_after_failure(Pending& pending, const ApiResult& result);
  void requeue(Pending pending);
  void report(Outcome outcome, long count);
  static std::string key_of(const EventRecord& event);
  static std::string spam_key_of(const EventRecord& event);

  Options options_;
  std::function<void(Outcome)> observe_;
  const observability::JsonLog* log_;
  observability::LogThrottle log_throttle_{std::chrono::seconds(10)};

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  Queue queue_;
  std::unordered_map<std::string, Queue::iterator> waiting_;  // key -> its entry in queue_
  std::unordered_set<std::string> busy_;                      // keys a sender is sending
  std::map<std::string, Series> series_;                      // created Events by key
  Steady::time_point last_pruned_{};
  Steady::time_point paused_until_{};  // a 429's Retry-After: every sender waits
  TokenBuckets buckets_;
  bool stopping_ = false;
  bool stopped_ = false;
  Steady::time_point stop_deadline_{};
  long dropped_ = 0, throttled_ = 0;
  std::vector<std::thread> senders_;
};

// events.k8s.io MicroTime: 2006-01-02T15:04:05.000000Z
std::string micro_time(std::chrono::system_clock::time_point when);

}  // namespace coderun::kube
