#include "kube/event_recorder.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

using namespace coderun::kube;
using namespace std::chrono_literals;

namespace {

struct Call {
  std::string method, path;
  nlohmann::json body;
};

// An API server double: records calls and answers with scripted statuses.
struct FakeApi {
  std::mutex mutex;
  std::vector<Call> calls;
  std::vector<int> statuses;  // consumed in order; 201 when empty
  std::chrono::milliseconds delay{0};

  ApiResult answer(const char* method, const std::string& path, const std::string& body) {
    std::this_thread::sleep_for(delay);
    std::lock_guard lock(mutex);
    calls.push_back({method, path, nlohmann::json::parse(body)});
    int status = 201;
    if (!statuses.empty()) {
      status = statuses.front();
      statuses.erase(statuses.begin());
    }
    return {status, "{}"};
  }
  EventRecorder::Transport transport() {
    return {[this](const std::string& p, const std::string& b) { return answer("POST", p, b); },
            [this](const std::string& p, const std::string& b) { return answer("PATCH", p, b); }};
  }
  size_t count() {
    std::lock_guard lock(mutex);
    return calls.size();
  }
};

EventRecord denied(const std::string& name = "coderun-abc12") {
  return {{"argoproj.io/v1alpha1", "Workflow", "argo", name},
          "Warning",
          "Denied",
          "Admit",
          "Error: no"};
}

EventRecorder::Options fast_options() {
  EventRecorder::Options options;
  options.reporting_instance = "coderun-webhook-7d9f-abcde";
  options.first_backoff = 1ms;
  return options;
}

bool eventually(const std::function<bool()>& condition) {
  for (int i = 0; i < 500; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

}  // namespace

TEST_CASE("an Event is posted as events.k8s.io/v1 to the object's namespace") {
  FakeApi api;
  std::atomic<int> posted{0};
  {
    EventRecorder recorder(api.transport(), fast_options(), [&](EventRecorder::Outcome o) {
      if (o == EventRecorder::Outcome::kPosted) ++posted;
    });
    REQUIRE(recorder.record(denied()));
    REQUIRE(eventually([&] { return posted == 1; }));
  }
  REQUIRE(api.calls.size() == 1);
  const auto& call = api.calls[0];
  CHECK(call.method == "POST");
  CHECK(call.path == "/apis/events.k8s.io/v1/namespaces/argo/events");
  CHECK(call.body["apiVersion"] == "events.k8s.io/v1");
  CHECK(call.body["kind"] == "Event");
  CHECK(call.body["reason"] == "Denied");
  CHECK(call.body["type"] == "Warning");
  CHECK(call.body["action"] == "Admit");
  CHECK(call.body["note"] == "Error: no");
  CHECK(call.body["reportingController"] == "taskmaster.io/coderun-webhook");
  CHECK(call.body["reportingInstance"] == "coderun-webhook-7d9f-abcde");
  CHECK(call.body["regarding"] == nlohmann::json({{"apiVersion", "argoproj.io/v1alpha1"},
                                                  {"kind", "Workflow"},
                                                  {"namespace", "argo"},
                                                  {"name", "coderun-abc12"}}));
  CHECK(call.body["metadata"]["namespace"] == "argo");
  CHECK_THAT(call.body["metadata"]["name"].get<std::string>(), Catch::StartsWith("coderun-abc12."));
  CHECK(call.body["eventTime"].get<std::string>().size() == 27);  // 2026-11-25T20:00:00.000000Z
}

TEST_CASE("isomorphic Events are aggregated into the first one's series") {
  FakeApi api;
  {
    EventRecorder recorder(api.transport(), fast_options());
    recorder.record(denied());
    recorder.record(denied());
    recorder.record(denied());
    recorder.record(denied("other-name"));
    REQUIRE(eventually([&] { return api.count() == 4; }));
  }
  CHECK(api.calls[0].method == "POST");
  CHECK(api.calls[1].method == "PATCH");
  CHECK(api.calls[1].path ==
        api.calls[0].path + "/" + api.calls[0].body["metadata"]["name"].get<std::string>());
  CHECK(api.calls[1].body["series"]["count"] == 2);
  CHECK(api.calls[2].body["series"]["count"] == 3);
  CHECK(api.calls[3].method == "POST");  // another object: another Event
}

TEST_CASE("server errors are retried with backoff; client errors are not") {
  FakeApi api;
  api.statuses = {503, 500, 201, 403};
  std::atomic<int> posted{0}, failed{0};
  {
    EventRecorder recorder(api.transport(), fast_options(), [&](EventRecorder::Outcome o) {
      if (o == EventRecorder::Outcome::kPosted) ++posted;
      if (o == EventRecorder::Outcome::kFailed) ++failed;
    });
    recorder.record(denied("a"));
    recorder.record(denied("b"));
    REQUIRE(eventually([&] { return posted + failed == 2; }));
  }
  CHECK(api.calls.size() == 4);  // three tries for a, one for b
  CHECK(posted == 1);
  CHECK(failed == 1);
}

TEST_CASE("record never waits for the API server, and a full queue drops and counts") {
  // The API server hangs until released: every record() must still return.
  std::mutex gate;
  std::unique_lock hold(gate);
  std::atomic<int> posts{0};
  EventRecorder::Transport hanging{[&](const std::string&, const std::string&) {
                                     ++posts;
                                     std::lock_guard wait(gate);
                                     return ApiResult{201, "{}"};
                                   },
                                   {}};
  std::atomic<int> dropped{0};
  auto options = fast_options();
  options.queue_capacity = 3;
  {
    EventRecorder recorder(hanging, options, [&](EventRecorder::Outcome o) {
      if (o == EventRecorder::Outcome::kDropped) ++dropped;
    });
    recorder.record(denied("first"));
    REQUIRE(eventually([&] { return posts == 1; }));  // the sender is stuck in the API server
    auto recording = std::async(std::launch::async, [&] {
      int accepted = 0;
      for (int i = 0; i < 10; ++i)
        accepted += recorder.record(denied("n" + std::to_string(i))) ? 1 : 0;
      return accepted;
    });
    REQUIRE(recording.wait_for(10s) == std::future_status::ready);
    CHECK(recording.get() == 3);
    CHECK(dropped == 7);
    hold.unlock();
  }
}

TEST_CASE("a note longer than 1 kB is cut") {
  EventRecorder recorder({}, fast_options());
  auto event = denied();
  event.note = std::string(3000, 'x');
  const auto object = recorder.event_object(event, "n.1", std::chrono::system_clock::now());
  CHECK(object["note"].get<std::string>().size() == 1024);
}
