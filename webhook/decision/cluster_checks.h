#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/cluster_view.h"
#include "github/event_context.h"
#include "policy/policy.h"

namespace coderun::decision {

// The cluster as one decision sees it: the state of the request's namespace and how the policy
// wants it used (unset: off). Without a view (make run, the offline commands without
// --cluster-state) the mode is off whatever the policy says: there is nothing to check against.
struct ClusterContext {
  const cluster::ClusterView* view = nullptr;
  std::string namespace_name;
  policy::ClusterChecks mode = policy::ClusterChecks::kOff;

  // The namespace's facts, or empty ones when nothing of it is known.
  const cluster::NamespaceFacts& facts() const;
  // Checks are made (enforce or warn) and the state can answer them (listed at least once).
  bool checking() const;
  bool enforcing() const { return checking() && mode == policy::ClusterChecks::kEnforce; }
};

ClusterContext cluster_context(const cluster::ClusterView* view, std::string namespace_name,
                               const policy::Policy& policy);

// The namespace's taskmaster.io/repo or taskmaster.io/ref annotation (field: repoFullName, owner,
// repo, ref), sourced "namespace:taskmaster.io/repo"; nullopt when not annotated.
std::optional<github::Sourced> namespace_default(const ClusterContext& cluster,
                                                 std::string_view field);

// Whether the agents ConfigMap of the namespace holds the prompt (a key named `name`).
bool prompt_in_cluster(const ClusterContext& cluster, const policy::Policy& policy,
                       std::string_view name);
// " (looked in ConfigMap controller-agents, namespace team-a)", and why when the map is absent.
std::string where_prompts_looked(const ClusterContext& cluster, const policy::Policy& policy);
// The message for a missing github-app-<app> Secret, with the command that creates it; nullopt
// when it exists or cannot be known (no RBAC for Secrets).
std::optional<std::string> missing_token_secret(const ClusterContext& cluster,
                                                const policy::Policy& policy,
                                                std::string_view app);
// Warnings that never deny: mcp-requirements absent, the state stale or not synced.
std::vector<std::string> cluster_warnings(const ClusterContext& cluster,
                                          const policy::Policy& policy);

}  // namespace coderun::decision
