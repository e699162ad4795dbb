#include "cluster/cluster_watcher.h"

#include <algorithm>

namespace coderun::cluster {
namespace {

// The server ends each watch after this long; the client's read timeout outlasts it.
constexpr int kWatchSeconds = 30;
constexpr std::chrono::milliseconds kFirstDelay{250};
constexpr std::chrono::milliseconds kLongestDelay{30000};
// A 403 is retried more often than a failure: RBAC being applied (or fixed) is seen quickly.
constexpr std::chrono::milliseconds kLongestForbiddenDelay{5000};

std::string excerpt(const std::string& text) { return text.substr(0, 300); }

}  // namespace

ClusterWatcher::ClusterWatcher(const kube::KubeConfig& config, std::vector<WatchedQuery> queries,
                               const observability::JsonLog& log,
                               std::function<void(const std::string&)> on_restart)
    : state_(std::move(queries)), log_(log), on_restart_(std::move(on_restart)) {
  for (size_t i = 0; i < state_.queries().size(); ++i) {
    clients_.push_back(std::make_unique<kube::ApiClient>(config));
    clients_.back()->set_read_timeout(std::chrono::seconds(kWatchSeconds + 15));
  }
  running_ = state_.queries().size();
  for (size_t i = 0; i < state_.queries().size(); ++i) {
    threads_.emplace_back([this, i] {
      run(state_.queries()[i], *clients_[i]);
      --running_;
    });
  }
}

ClusterWatcher::~ClusterWatcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  // A thread may be about to open a request when stop() is first called: call it until all end.
  while (running_ > 0) {
    for (auto& client : clients_) client->stop();
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, std::chrono::milliseconds(50));
  }
  for (auto& thread : threads_) thread.join();
}

bool ClusterWatcher::pause(std::chrono::milliseconds& delay) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, delay, [this] { return stopping_.load(); });
  delay = std::min(delay * 2, kLongestDelay);
  return !stopping_;
}

void ClusterWatcher::note_synced() {
  if (!state_.synced() || synced_logged_.exchange(true)) return;
  log_.info("cluster state synced",
            {{"elapsed_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - started_)
                                .count()},
             {"objects", state_.objects()}});
}

bool ClusterWatcher::list(const WatchedQuery& query, kube::ApiClient& client,
                          std::string& version, bool& forbidden) {
  forbidden = false;
  const auto result = client.get(query.path(), query.accept());
  if (result.status == 403) {
    state_.set_forbidden(query);
    forbidden = true;
    if (throttle_.pass("forbidden:" + query.id())) {
      log_.error(query.kind == Kind::kSecret
                     ? "no RBAC to list Secrets: the token Secret check cannot be made"
                     : "no RBAC to list what the cluster checks read",
                 {{"query", query.id()},
                  {"path", query.path()},
                  {"hint", "grant get, list, watch on it by resourceNames (manifests/base/rbac.yaml)"},
                  {"answer", excerpt(result.body)}});
    }
    note_synced();
    return false;
  }
  if (!result.ok()) {
    state_.set_broken(query, std::chrono::steady_clock::now());
    if (throttle_.pass("list:" + query.id())) {
      log_.warn("cluster state: list failed; retrying with backoff",
                {{"query", query.id()}, {"status", result.status}, {"error", excerpt(result.body)}});
    }
    return false;
  }
  const auto body = nlohmann::json::parse(result.body, nullptr, false);
  try {
    version = state_.replace(query, body);
  } catch (const std::runtime_error& e) {
    state_.set_broken(query, std::chrono::steady_clock::now());
    log_.warn("cluster state: list answer unreadable", {{"query", query.id()}, {"error", e.what()}});
    return false;
  }
  state_.set_live(query);
  log_.debug("cluster state listed", {{"query", query.id()}, {"resource_version", version}});
  note_synced();
  return true;
}

void ClusterWatcher::run(const WatchedQuery& query, kube::ApiClient& client) {
  std::string version;
  auto delay = kFirstDelay;
  while (!stopping_) {
    if (version.empty()) {
      bool forbidden = false;
      if (!list(query, client, version, forbidden)) {
        if (forbidden) delay = std::min(delay, kLongestForbiddenDelay);
        if (!pause(delay)) return;
        continue;
      }
      delay = kFirstDelay;
    }
    const std::string path = query.path() +
                             (query.path().find('?') == std::string::npos ? "?" : "&") +
                             "watch=true&allowWatchBookmarks=true&timeoutSeconds=" +
                             std::to_string(kWatchSeconds) + "&resourceVersion=" + version;
    WatchStep ended = WatchStep::kApplied;
    std::string problem;
    const auto result = client.watch(path, query.accept(true), [&](std::string_view line) {
      const WatchStep step = state_.apply(query, line, version, problem);
      if (step == WatchStep::kExpired || step == WatchStep::kFailed) {
        ended = step;
        return false;
      }
      return !stopping_.load();
    });
    if (stopping_) return;
    if (result.ok() && ended == WatchStep::kApplied) {
      delay = kFirstDelay;  // the server's timeoutSeconds: watch on from the same version
      continue;
    }
    // Broken: list again, which also tells when the API server is back.
    const std::string reason = ended == WatchStep::kExpired || result.status == 410 ? "expired"
                                                                                     : "error";
    version.clear();
    if (on_restart_) on_restart_(reason);
    if (reason == "expired") {
      log_.info("cluster state: watch expired (410 Gone); listing again", {{"query", query.id()}});
      continue;
    }
    state_.set_broken(query, std::chrono::steady_clock::now());
    if (throttle_.pass("watch:" + query.id())) {
      log_.warn("cluster state: watch broken; listing again with backoff",
                {{"query", query.id()},
                 {"status", result.status},
                 {"error", excerpt(problem.empty() ? result.body : problem)}});
    }
    if (!pause(delay)) return;
  }
}

}  // namespace coderun::cluster
