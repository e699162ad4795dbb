#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "admission/review.h"
#include "decision/run_kind.h"
#include "decision/run_resolution.h"
#include "policy/policy.h"

namespace coderun::decision {

// What the policy's access rules said about one run.
struct AccessOutcome {
  std::string mode;     // enforce | audit
  std::string result;   // allowed | denied | would-deny (audit mode admits)
  std::string rule;     // the rule that allowed it
  std::string message;  // the denial (or would-be denial), naming subject, app, repo, namespace
  std::string warning;  // short enough for kubectl's warning (kMaxWarningBytes)
};

// The access check of a resolved run: nullopt when the policy has no `access` or the run is
// already refused for another reason (its repository may then be unknown). Pure.
std::optional<AccessOutcome> check_run_access(const admission::Request& request,
                                              const policy::Policy& policy, RunKind kind,
                                              const nlohmann::json& object,
                                              const RunResolution& resolution);

// The label a Workflow's resource step puts on the run it creates (manifests/workflowtemplates).
inline constexpr const char* kWorkflowLabel = "taskmaster.io/workflow";

}  // namespace coderun::decision
