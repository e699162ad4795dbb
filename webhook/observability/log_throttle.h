#pragma once
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace coderun::observability {

// At most one log line per key every `interval`; the lines held back in between are counted and
// reported with the next one, so a flood of the same complaint (a scanner, a misconfigured
// client, a wrong caBundle) costs a line per interval, not a line per request. Keys must come
// from a small fixed set (a status code, a kind of failure), never from what a client sent.
class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogThrottle(Clock::duration interval) : interval_(interval) {}

  // nullopt: hold this line back (it is counted). Otherwise write it, adding that this many were
  // held back since the previous line for the key.
  std::optional<long> pass(std::string_view key, Clock::time_point now = Clock::now()) {
    const std::lock_guard lock(mutex_);
    auto found = entries_.find(key);
    if (found == entries_.end()) {
      entries_.emplace(std::string(key), Entry{now, 0});
      return 0;
    }
    Entry& entry = found->second;
    if (now - entry.last < interval_) {
      ++entry.held_back;
      return std::nullopt;
    }
    entry.last = now;
    const long held_back = entry.held_back;
    entry.held_back = 0;
    return held_back;
  }

 private:
  struct Entry {
    Clock::time_point last;
    long held_back;
  };
  struct Hash : std::hash<std::string_view> {
    using is_transparent = void;
  };

  const Clock::duration interval_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> entries_;
};

}  // namespace coderun::observability
