#pragma once
#include <algorithm>
#include <chrono>
#include <string>
#include <unordered_map>

namespace coderun::kube {

// One token bucket per key (client-go's EventSourceObjectSpamFilter: burst 25, one token back
// every 5 minutes per object): a client that floods one object with denials spends its own
// bucket, never the queue space or API calls of other objects' Events. Not thread-safe: the
// owner locks.
class TokenBuckets {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBuckets(double burst, Clock::duration refill_every)
      : burst_(burst), refill_every_(refill_every) {}

  // Takes a token from key's bucket; false when it is empty.
  bool take(const std::string& key, Clock::time_point now) {
    auto [found, added] = buckets_.try_emplace(key, Bucket{burst_, now});
    Bucket& bucket = found->second;
    if (!added) {
      bucket.tokens = refilled(bucket, now);
      bucket.updated = now;
    }
    if (bucket.tokens < 1.0) return false;
    bucket.tokens -= 1.0;
    if (added && buckets_.size() > kPruneAbove) prune(now);
    return true;
  }

  size_t size() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };
  // Names come from clients: a bucket that has refilled is the same as no bucket, so the map
  // holds only the objects that are being throttled or were recently active.
  static constexpr size_t kPruneAbove = 4096;

  double refilled(const Bucket& bucket, Clock::time_point now) const {
    const double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
    const double every = std::chrono::duration<double>(refill_every_).count();
    return std::min(burst_, bucket.tokens + (every > 0 ? elapsed / every : burst_));
  }

  void prune(Clock::time_point now) {
    std::erase_if(buckets_, [&](const auto& entry) { return refilled(entry.second, now) >= burst_; });
  }

  const double burst_;
  const Clock::duration refill_every_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace coderun::kube
