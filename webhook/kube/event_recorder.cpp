#include "kube/event_recorder.h"

#include <algorithm>
#include <ctime>
#include <random>

#include "observability/json_log.h"
#include "util/json_text.h"

namespace coderun::kube {
namespace {

constexpr size_t kNoteLimit = 1024;
// Storage usually completes within milliseconds of the validating answer, but under load a few
// objects take hundreds: GETs at most 200 ms apart keep those Events from waiting seconds.
constexpr std::chrono::milliseconds kMaxConfirmBackoff{200};

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

std::string stored_uid(const std::string& body) {
  const auto object = nlohmann::json::parse(body, nullptr, false);
  if (!object.is_object()) return "";
  const auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return "";
  const auto uid = metadata->find("uid");
  return uid != metadata->end() && uid->is_string() ? uid->get<std::string>() : "";
}

std::string excerpt(const std::string& text) { return text.size() <= 200 ? text : text.substr(0, 200); }

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

EventRecorder::TransportFactory EventRecorder::over(const KubeConfig& config) {
  return [config] {
    auto client = std::make_shared<ApiClient>(config);
    return Transport{[client](const std::string& path, const std::string& body) {
                       return client->post(path, body);
                     },
                     [client](const std::string& path, const std::string& body) {
                       return client->merge_patch(path, body);
                     },
                     [client](const std::string& path) { return client->get(path); }};
  };
}

EventRecorder::EventRecorder(TransportFactory transports, Options options,
                             std::function<void(Outcome)> observe,
                             const observability::JsonLog* log)
    : options_(std::move(options)),
      observe_(std::move(observe)),
      log_(log),
      buckets_(options_.spam_burst, options_.spam_refill) {
  // Every transport is made here, on the caller's thread, so that a bad configuration throws to
  // the caller rather than inside a sender.
  std::vector<Transport> made;
  for (size_t i = 0; i < std::max<size_t>(1, options_.senders); ++i) made.push_back(transports());
  for (auto& transport : made)
    senders_.emplace_back([this, transport = std::move(transport)]() mutable {
      run(std::move(transport));
    });
}

EventRecorder::EventRecorder(Transport shared, Options options,
                             std::function<void(Outcome)> observe,
                             const observability::JsonLog* log)
    : EventRecorder([shared] { return shared; }, std::move(options), std::move(observe), log) {}

EventRecorder::~EventRecorder() { stop(options_.drain_grace); }

long EventRecorder::stop(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return 0;
    stopped_ = stopping_ = true;
    stop_deadline_ = Steady::now() + grace;
  }
  wake_.notify_all();
  for (auto& sender : senders_) sender.join();
  long left = 0;
  {
    std::lock_guard lock(mutex_);
    for (const auto& pending : queue_) left += pending.count;
    queue_.clear();
    waiting_.clear();
    dropped_ += left;
  }
  report(Outcome::kDropped, left);
  if (log_ != nullptr && left > 0) {
    log_->warn("Kubernetes Events not sent at shutdown: the grace period ended",
               {{"events", left}, {"grace_ms", grace.count()}});
  }
  return left;
}

EventRecorder::Stats EventRecorder::stats() const {
  std::lock_guard lock(mutex_);
  return {dropped_, throttled_, queue_.size()};
}

const char* EventRecorder::outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::kPosted: return "posted";
    case Outcome::kFailed: return "failed";
    case Outcome::kDropped: return "dropped";
    case Outcome::kUnstored: return "unstored";
    case Outcome::kThrottled: return "throttled";
  }
  return "failed";
}

std::string EventRecorder::key_of(const EventRecord& e) {
  return e.regarding.namespace_name + "\x1f" + e.regarding.kind + "\x1f" + e.regarding.name +
         "\x1f" + e.regarding.uid + "\x1f" + e.type + "\x1f" + e.reason + "\x1f" + e.action +
         "\x1f" + e.note;
}

std::string EventRecorder::spam_key_of(const EventRecord& e) {
  return e.regarding.namespace_name + "\x1f" + e.regarding.kind + "\x1f" + e.regarding.name +
         "\x1f" + e.reason;
}

void EventRecorder::report(Outcome outcome, long count) {
  if (!observe_) return;
  for (long i = 0; i < count; ++i) observe_(outcome);
}

bool EventRecorder::record(EventRecord event) {
  const auto now = std::chrono::system_clock::now();
  const auto steady_now = Steady::now();
  std::string key = key_of(event);
  std::unique_lock lock(mutex_);
  if (!stopping_) {
    if (const auto found = waiting_.find(key); found != waiting_.end()) {
      // The same event is already waiting: it goes out as one series update with both counted.
      ++found->second->count;
      found->second->last = now;
      return true;
    }
  }
  if (stopping_ || queue_.size() >= options_.queue_capacity) {
    ++dropped_;
    lock.unlock();
    report(Outcome::kDropped, 1);
    if (log_ != nullptr) {
      if (const auto held_back = log_throttle_.pass("dropped")) {
        log_->warn("Kubernetes Event dropped: the queue is full",
                   {{"capacity", options_.queue_capacity}, {"dropped", *held_back + 1}});
      }
    }
    return false;
  }
  if (!buckets_.take(spam_key_of(event), steady_now)) {
    ++throttled_;
    lock.unlock();
    report(Outcome::kThrottled, 1);
    if (log_ != nullptr) {
      if (const auto held_back = log_throttle_.pass("throttled")) {
        log_->warn("Kubernetes Event throttled: too many for one object",
                   {{"namespace", event.regarding.namespace_name},
                    {"kind", event.regarding.kind},
                    {"name", event.regarding.name},
                    {"reason", event.reason},
                    {"throttled", *held_back + 1}});
      }
    }
    return false;
  }
  Pending pending;
  pending.key = std::move(key);
  pending.first = pending.last = now;
  if (event.confirm) {
    pending.confirm_backoff = options_.confirm_backoff;
    pending.confirm_until = steady_now + options_.confirm_window;
  }
  pending.event = std::move(event);
  queue_.push_back(std::move(pending));
  waiting_[queue_.back().key] = std::prev(queue_.end());
  lock.unlock();
  wake_.notify_one();
  return true;
}

nlohmann::json EventRecorder::event_object(const EventRecord& event, const std::string& name,
                                           std::chrono::system_clock::time_point when, long count,
                                           std::chrono::system_clock::time_point last) const {
  nlohmann::json regarding = {{"apiVersion", event.regarding.api_version},
                              {"kind", event.regarding.kind},
                              {"namespace", event.regarding.namespace_name}};
  if (!event.regarding.name.empty()) regarding["name"] = event.regarding.name;
  if (!event.regarding.uid.empty()) regarding["uid"] = event.regarding.uid;
  nlohmann::json object = {{"apiVersion", "events.k8s.io/v1"},
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
  // Events coalesced while waiting arrive as one series (the API server wants count >= 2).
  if (count > 1)
    object["series"] = {{"count", count}, {"lastObservedTime", micro_time(std::max(when, last))}};
  return object;
}

std::optional<EventRecorder::Queue::iterator> EventRecorder::next_ready(Steady::time_point now,
                                                                        Steady::time_point& wake_at) {
  wake_at = Steady::time_point::max();
  if (paused_until_ > now) {
    wake_at = paused_until_;
    return std::nullopt;
  }
  // Entries behind a busy key or a backoff are skipped: there is at most one waiting entry per
  // key, so the skipped ones are few (one per sender, plus those in backoff).
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (busy_.contains(it->key)) continue;
    if (it->not_before > now) {
      wake_at = std::min(wake_at, it->not_before);
      continue;
    }
    return it;
  }
  return std::nullopt;
}

void EventRecorder::requeue(Pending pending) {
  if (const auto found = waiting_.find(pending.key); found != waiting_.end()) {
    // An identical event arrived while this one was in flight: carry it too.
    pending.count += found->second->count;
    pending.last = std::max(pending.last, found->second->last);
    queue_.erase(found->second);
  }
  queue_.push_front(std::move(pending));  // it was the oldest
  waiting_[queue_.front().key] = queue_.begin();
}

void EventRecorder::run(Transport transport) {
  std::unique_lock lock(mutex_);
  while (true) {
    const auto now = Steady::now();
    if (stopping_ && (now >= stop_deadline_ || queue_.empty())) break;
    Steady::time_point wake_at;
    const auto ready = next_ready(now, wake_at);
    if (!ready) {
      if (stopping_) wake_at = std::min(wake_at, stop_deadline_);
      if (wake_at == Steady::time_point::max()) {
        wake_.wait(lock);
      } else {
        wake_.wait_until(lock, wake_at);
      }
      continue;
    }
    Pending pending = std::move(**ready);
    waiting_.erase(pending.key);
    queue_.erase(*ready);
    busy_.insert(pending.key);
    if (now - last_pruned_ > std::chrono::seconds(10)) {  // forget series older than the window
      last_pruned_ = now;
      const auto horizon = std::chrono::system_clock::now() - options_.series_window;
      std::erase_if(series_, [&](const auto& entry) { return entry.second.last < horizon; });
    }
    lock.unlock();
    const Result result = attempt(transport, pending);
    lock.lock();
    busy_.erase(pending.key);
    if (result.step == Step::kRetry) {
      requeue(std::move(pending));
    } else {
      lock.unlock();
      report(result.outcome, pending.count);
      lock.lock();
    }
    wake_.notify_all();  // the key is free again, and a stop may be waiting for an empty queue
  }
}

EventRecorder::Result EventRecorder::attempt(Transport& transport, Pending& pending) {
  if (pending.event.confirm && !pending.confirmed) {
    const Result result = confirm(transport, pending);
    if (!pending.confirmed) return result;
  }
  return send(transport, pending);
}

EventRecorder::Result EventRecorder::confirm(Transport& transport, Pending& pending) {
  const StoredCheck& check = *pending.event.confirm;
  const ApiResult result =
      transport.get ? transport.get(check.path) : ApiResult{0, "no GET", std::nullopt};
  if (result.status == 200) {
    const std::string uid = stored_uid(result.body);
    if (check.uid.empty() || uid == check.uid) {
      pending.confirmed = true;
      if (pending.event.regarding.uid.empty()) pending.event.regarding.uid = uid;
      return {Step::kRetry, Outcome::kPosted};  // not used: attempt() sends next
    }
    if (log_ != nullptr) {
      log_->debug("Kubernetes Event not posted: another object has the name now",
                  {{"path", check.path}, {"uid", check.uid}, {"stored_uid", uid},
                   {"reason", pending.event.reason}});
    }
    return {Step::kDone, Outcome::kUnstored};
  }
  if (result.status == 404) {
    const auto now = Steady::now();
    if (now + pending.confirm_backoff > pending.confirm_until) {
      if (log_ != nullptr) {
        log_->debug("Kubernetes Event not posted: the object was never stored",
                    {{"path", check.path}, {"uid", check.uid}, {"reason", pending.event.reason}});
      }
      return {Step::kDone, Outcome::kUnstored};
    }
    pending.not_before = now + pending.confirm_backoff;
    pending.confirm_backoff = std::min(pending.confirm_backoff * 2, kMaxConfirmBackoff);
    return {Step::kRetry, Outcome::kPosted};
  }
  return retry_after_failure(pending, result);
}

EventRecorder::Result EventRecorder::send(Transport& transport, Pending& pending) {
  std::optional<Series> series;
  {
    std::lock_guard lock(mutex_);
    if (const auto found = series_.find(pending.key); found != series_.end()) {
      if (pending.first - found->second.last <= options_.series_window) {
        series = found->second;
      } else {
        series_.erase(found);
      }
    }
  }
  const std::string& ns = pending.event.regarding.namespace_name;
  ApiResult result;
  if (series) {
    const long count = series->count + pending.count;
    const nlohmann::json patch = {
        {"series", {{"count", count}, {"lastObservedTime", micro_time(pending.last)}}}};
    result = transport.merge_patch(events_path(ns) + "/" + series->name, util::dump_json(patch));
    std::lock_guard lock(mutex_);
    if (result.ok()) {
      series_[pending.key] = {series->name, count, pending.last};
      return {Step::kDone, Outcome::kPosted};
    }
    if (result.status == 404) {  // deleted meanwhile: posted anew at once
      series_.erase(pending.key);
      pending.not_before = {};
      return {Step::kRetry, Outcome::kPosted};
    }
  } else {
    // The name is chosen once: a retry after a lost answer meets 409 instead of a duplicate.
    if (pending.event_name.empty()) pending.event_name = event_name(pending.event);
    const std::string body = util::dump_json(
        event_object(pending.event, pending.event_name, pending.first, pending.count, pending.last));
    result = transport.post(events_path(ns), body);
    if (result.ok() || (result.status == 409 && pending.attempts > 0)) {
      std::lock_guard lock(mutex_);
      series_[pending.key] = {pending.event_name, pending.count, pending.last};
      return {Step::kDone, Outcome::kPosted};
    }
  }
  return retry_after_failure(pending, result);
}

EventRecorder::Result EventRecorder::retry_after_failure(Pending& pending, const ApiResult& result) {
  const auto now = Steady::now();
  const auto retry_after = result.retry_after
                               ? std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::min<std::chrono::seconds>(*result.retry_after,
                                                                    options_.max_retry_after))
                               : std::chrono::milliseconds(0);
  if (result.status == 429) {
    // The API server's priority and fairness asks this client to wait: every sender does, and
    // the event is not given up (the queue bound and the shutdown grace still hold).
    const auto wait = result.retry_after ? retry_after : options_.first_backoff;
    {
      std::lock_guard lock(mutex_);
      paused_until_ = std::max(paused_until_, now + wait);
    }
    pending.not_before = now + wait;
    return {Step::kRetry, Outcome::kPosted};
  }
  if (result.retryable() && ++pending.attempts < options_.max_attempts) {
    auto backoff = options_.first_backoff * (1L << std::min(pending.attempts - 1, 16));
    backoff = std::max(std::min(backoff, options_.max_backoff), retry_after);
    pending.not_before = now + backoff;
    return {Step::kRetry, Outcome::kPosted};
  }
  if (log_ != nullptr) {
    if (const auto held_back = log_throttle_.pass("failed")) {
      log_->warn("Kubernetes Event not posted",
                 {{"status", result.status},
                  {"answer", excerpt(result.body)},
                  {"reason", pending.event.reason},
                  {"failed", *held_back + 1},
                  {"hint", result.status == 403
                               ? "the webhook's ServiceAccount needs create/patch on "
                                 "events.k8s.io events and get on the served kinds "
                                 "(manifests/base/rbac.yaml)"
                               : ""}});
    }
  }
  return {Step::kDone, Outcome::kFailed};
}

}  // namespace coderun::kube
