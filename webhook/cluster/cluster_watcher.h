#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/cluster_state.h"
#include "kube/api_client.h"
#include "kube/kube_config.h"
#include "observability/json_log.h"
#include "observability/log_throttle.h"

namespace coderun::cluster {

// Keeps a ClusterState in step with the API server: per query, list, then watch from the list's
// resourceVersion; a watch that ends (timeoutSeconds) is watched again from the last version, one
// that fails or expires (410 Gone) lists again, with exponential backoff between failures. One
// thread and one connection per query, all off the request path: decisions only read snapshots.
class ClusterWatcher {
 public:
  // on_restart(reason): a watch broken and restarted ("expired", "error"), for the metrics.
  ClusterWatcher(const kube::KubeConfig& config, std::vector<WatchedQuery> queries,
                 const observability::JsonLog& log,
                 std::function<void(const std::string& reason)> on_restart = {});
  ~ClusterWatcher();
  ClusterWatcher(const ClusterWatcher&) = delete;
  ClusterWatcher& operator=(const ClusterWatcher&) = delete;

  const ClusterState& state() const { return state_; }
  std::shared_ptr<const ClusterSnapshot> snapshot() const { return state_.snapshot(); }

 private:
  void run(const WatchedQuery& query, kube::ApiClient& client);
  // Lists the query; false when it failed (the caller backs off; forbidden: it was a 403).
  bool list(const WatchedQuery& query, kube::ApiClient& client, std::string& version,
            bool& forbidden);
  // Sleeps for the backoff's next delay; false when stopping.
  bool pause(std::chrono::milliseconds& delay);
  void note_synced();

  ClusterState state_;
  const observability::JsonLog& log_;
  std::function<void(const std::string&)> on_restart_;
  observability::LogThrottle throttle_{std::chrono::seconds(30)};
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::atomic<bool> stopping_{false};
  std::atomic<bool> synced_logged_{false};
  std::atomic<size_t> running_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::unique_ptr<kube::ApiClient>> clients_;
  std::vector<std::thread> threads_;
};

}  // namespace coderun::cluster
