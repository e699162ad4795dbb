#include "kube/event_recorder.h"

#include <ctime>
#include <random>

#include "util/json_text.h"

namespace coderun::kube {
namespace {

constexpr size_t kNoteLimit = 1024;

std::string truncated_note(const std::string& note) {
  if (note.size() <= kNoteLimit) return note;
  size_t cut = kNoteLimit - 3;
  while (cut > 0 && (static_cast<unsigned char>(note[cut]) & 0xC0) == 0x80)
    --cut;  // UTF-8 boundary
  return note.substr(0, cut) + "...";
}

// <regarding name>.<16 hex>, like client-go; names stay valid DNS subdomains.
std::string event_name(const EventRecord& event) {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  char suffix[17];
  std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(random()));
  std::string base = event.regarding.name.empty() ? "coderun-webhook" : event.regarding.name;
  if (base.size() > 200) base.resize(200);
  while (!base.empty() && (base.back() == '-' || base.back() == '.')) base.pop_back();
  return base + "." + suffix;
}

std::string events_path(const std::string& namespace_name) {
  return "/apis/events.k8s.io/v1/namespaces/" + namespace_name + "/events";
}

}  // namespace

std::string micro_time(std::chrono::system_clock::time_point when) {
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(when.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<long long>(micros % 1000000));
  return text;
}

EventRecorder::Transport EventRecorder::over(ApiClient& client) {
  return {[&client](const std::string& path, const std::string& body) {
            return client.post(path, body);
          },
          [&client](const std::string& path, const std::string& body) {
            return client.merge_patch(path, body);
          }};
}

EventRecorder::EventRecorder(Transport transport, Options options,
                             std::function<void(Outcome)> observe)
    : transport_(std::move(transport)),
      options_(std::move(options)),
      observe_(std::move(observe)),
      sender_([this] { run(); }) {}

EventRecorder::~EventRecorder() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    stop_deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  }
  wake_.notify_all();
  sender_.join();
}

bool EventRecorder::record(EventRecord event) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_ && queue_.size() < options_.queue_capacity) {
      queue_.push_back({std::move(event), std::chrono::system_clock::now()});
      wake_.notify_one();
      return true;
    }
  }
  if (observe_) observe_(Outcome::kDropped);
  return false;
}

std::string EventRecorder::key_of(const EventRecord& e) {
  return e.regarding.namespace_name + "\x1f" + e.regarding.kind + "\x1f" + e.regarding.name +
         "\x1f" + e.type + "\x1f" + e.reason + "\x1f" + e.action + "\x1f" + e.note;
}

nlohmann::json EventRecorder::event_object(const EventRecord& event, const std::string& name,
                                           std::chrono::system_clock::time_point when) const {
  nlohmann::json regarding = {{"apiVersion", event.regarding.api_version},
                              {"kind", event.regarding.kind},
                              {"namespace", event.regarding.namespace_name}};
  if (!event.regarding.name.empty()) regarding["name"] = event.regarding.name;
  return {{"apiVersion", "events.k8s.io/v1"},
          {"kind", "Event"},
          {"metadata", {{"name", name}, {"namespace", event.regarding.namespace_name}}},
          {"eventTime", micro_time(when)},
          {"reportingController", options_.reporting_controller},
          {"reportingInstance", options_.reporting_instance},
          {"action", event.action},
          {"reason", event.reason},
          {"type", event.type},
          {"note", truncated_note(event.note)},
          {"regarding", regarding}};
}

ApiResult EventRecorder::with_retries(const std::function<ApiResult()>& call) {
  auto backoff = options_.first_backoff;
  ApiResult result;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    result = call();
    if (result.ok() || !result.retryable() || attempt == options_.max_attempts) return result;
    std::unique_lock lock(mutex_);
    // Sleep, but give up early when shutting down and the drain deadline has passed.
    wake_.wait_for(lock, backoff, [this] {
      return stopping_ && std::chrono::steady_clock::now() >= stop_deadline_;
    });
    if (stopping_ && std::chrono::steady_clock::now() >= stop_deadline_) return result;
    backoff *= 2;
  }
  return result;
}

void EventRecorder::send(const Pending& pending) {
  const std::string key = key_of(pending.event);
  for (auto it = series_.begin(); it != series_.end();) {  // forget series older than the window
    it =
        pending.when - it->second.last > options_.series_window ? series_.erase(it) : std::next(it);
  }
  auto found = series_.find(key);
  ApiResult result;
  if (found != series_.end() && found->second.created) {
    Series& series = found->second;
    ++series.count;
    series.last = pending.when;
    const nlohmann::json patch = {
        {"series", {{"count", series.count}, {"lastObservedTime", micro_time(series.last)}}}};
    result = with_retries([&] {
      return transport_.merge_patch(events_path(series.namespace_name) + "/" + series.name,
                                    util::dump_json(patch));
    });
    if (result.status == 404) series_.erase(found);  // deleted meanwhile: the next one starts anew
  } else {
    Series series{event_name(pending.event),
                  pending.event.regarding.namespace_name,
                  1,
                  pending.when,
                  pending.when,
                  false};
    const std::string body =
        util::dump_json(event_object(pending.event, series.name, pending.when));
    result =
        with_retries([&] { return transport_.post(events_path(series.namespace_name), body); });
    series.created = result.ok();
    if (series.created) series_[key] = series;
  }
  if (observe_) observe_(result.ok() ? Outcome::kPosted : Outcome::kFailed);
}

void EventRecorder::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty() || (stopping_ && std::chrono::steady_clock::now() >= stop_deadline_)) {
      if (stopping_) break;
      continue;
    }
    Pending pending = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    send(pending);
    lock.lock();
  }
  const size_t abandoned = queue_.size();
  lock.unlock();
  for (size_t i = 0; i < abandoned && observe_; ++i) observe_(Outcome::kDropped);
}

}  // namespace coderun::kube
