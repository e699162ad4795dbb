#pragma once
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/cluster_view.h"

namespace coderun::cluster {

enum class Kind { kNamespace, kConfigMap, kSecret };

// One list + watch query: every Namespace, or the ConfigMaps / Secrets of one name across all
// namespaces (a metadata.name field selector: RBAC can then grant it by resourceNames).
struct WatchedQuery {
  Kind kind = Kind::kNamespace;
  std::string name;  // ConfigMaps and Secrets only

  // The collection's path with its field selector, without resourceVersion or watch parameters.
  std::string path() const;
  // Secrets are read as PartialObjectMetadata: names, never data. The list asks for a
  // PartialObjectMetadataList, the watch for PartialObjectMetadata (kube-apiserver v1.20 answers a
  // watch asking for the List form with 200 and then never sends an event).
  std::string accept(bool watch = false) const;
  std::string id() const;  // "secrets/github-app-rex", for logs and metrics
};

// What one watch event did to the cache.
enum class WatchStep {
  kApplied,   // ADDED, MODIFIED or DELETED applied
  kBookmark,  // only the resourceVersion moved
  kExpired,   // ERROR 410 Gone: the resourceVersion is too old; list again
  kFailed,    // another ERROR, or a line that is not an event: watch again from the last version
};

// The cache of cluster state, fed by lists and watch events, with no I/O of its own: the watcher
// does the HTTP, tests feed recorded streams. Thread-safe; snapshot() is what decisions read.
class ClusterState {
 public:
  // A watch broken for less than this is a restart, not a stale state worth a warning.
  static constexpr std::chrono::seconds kStaleAfter{5};

  explicit ClusterState(std::vector<WatchedQuery> queries);

  const std::vector<WatchedQuery>& queries() const { return queries_; }

  // A list answer replaces everything the query held (objects deleted while no watch ran go
  // away). Returns the list's resourceVersion; throws std::runtime_error when it is not a list.
  std::string replace(const WatchedQuery& query, const nlohmann::json& list);
  // One line of a watch stream. resource_version moves on kApplied and kBookmark; problem says
  // why on kFailed and kExpired.
  WatchStep apply(const WatchedQuery& query, std::string_view line, std::string& resource_version,
                  std::string& problem);

  // The API server refused the query (403): for Secrets, synced but their absence proves nothing;
  // for Namespaces and ConfigMaps, not synced.
  void set_forbidden(const WatchedQuery& query);
  // The watch broke (no answer, 5xx...) at `since`, or works again.
  void set_broken(const WatchedQuery& query, std::chrono::steady_clock::time_point since);
  void set_live(const WatchedQuery& query);

  bool synced() const;
  size_t objects() const;
  // The time since the oldest broken watch broke, when one is broken (0 when all are live).
  std::chrono::seconds age(std::chrono::steady_clock::time_point now) const;
  std::shared_ptr<const ClusterSnapshot> snapshot(
      std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) const;

 private:
  struct Stored {
    std::string namespace_name;
    std::string name;
    std::set<std::string, std::less<>> keys;  // ConfigMaps: data and binaryData keys
    std::map<std::string, std::string, std::less<>> annotations;  // Namespaces
  };
  struct QueryState {
    std::map<std::string, Stored> objects;  // by namespace/name
    bool listed = false;
    bool forbidden = false;
    std::optional<std::chrono::steady_clock::time_point> broken_since;
  };

  static Stored stored_of(Kind kind, const nlohmann::json& object);
  static bool counts_as_synced(const WatchedQuery& query, const QueryState& state);
  QueryState& state_of(const WatchedQuery& query);
  const QueryState& state_of(const WatchedQuery& query) const;

  std::vector<WatchedQuery> queries_;
  mutable std::mutex mutex_;
  std::map<std::string, QueryState> states_;  // by query id
  mutable std::shared_ptr<const ClusterSnapshot::Facts> facts_;  // rebuilt after a change
};

}  // namespace coderun::cluster
