#pragma once
#include <string>

#include "admission/review.h"
#include "cluster/cluster_view.h"
#include "decision/pod_plumbing.h"
#include "decision/run_access.h"
#include "decision/run_kind.h"
#include "decision/run_resolution.h"
#include "policy/policy.h"
#include "policy/prompt_catalog.h"

namespace coderun::decision {

enum class Phase { kMutate, kValidate };

// The outcome of one admission request: the response to send, and what the edges (Events,
// metrics, logs) need to report it.
struct Decision {
  admission::Response response;
  bool served = false;  // false: not an object this webhook serves; allowed untouched
  RunKind kind = RunKind::kWorkflow;
  std::string outcome;  // ignored | unchanged | mutated | validated | denied
  std::string rule;     // the rule behind a denial
  RunResolution resolution;
  std::optional<AccessOutcome> access;  // set when the policy has access rules and they ran
};

// A pure function of the request, the policy and the prompts: no I/O but the prompt look-up.
// The mutating pass fills and refuses what can never pass; the validating pass only checks.
// plumbing: the pod pieces prepared once for this policy (PodPlumbing); built here when null.
// cluster: an immutable snapshot of the cluster's state (the request namespace's prompts, token
// Secret, mcp-requirements, annotations); null without a cluster (clusterChecks is then off).
Decision decide(const admission::Request& request, const policy::Policy& policy,
                const policy::PromptCatalog& prompts, Phase phase,
                const PodPlumbing* plumbing = nullptr,
                const cluster::ClusterView* cluster = nullptr);

}  // namespace coderun::decision
