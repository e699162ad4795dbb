#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "decision/cluster_checks.h"
#include "decision/run_inputs.h"
#include "github/event_context.h"
#include "policy/policy.h"
#include "policy/prompt_catalog.h"

namespace coderun::decision {

using github::Sourced;

// Why a run is refused: the user-facing message (the seed's words where the seed has them) and
// the rule that made the decision, for audit annotations and metrics.
struct Denial {
  std::string message;
  std::string rule;
};

// The values a run ends up with, where each came from, and what is wrong with it.
struct RunResolution {
  std::string app;
  std::vector<std::pair<std::string, Sourced>> values;  // in kFields order; known values only
  std::vector<std::string> to_fill;  // fields the user left absent or empty: mutation writes them
  std::vector<std::string> warnings;
  std::optional<std::string> event_problem;  // the event argument was unusable (malformed...)
  std::string event_type;
  std::optional<Denial> denial;

  const Sourced* find(std::string_view field) const;
};

// The decision's core: a pure function of the inputs, the policy and the prompts on disk.
// User-set values always win; the event fills the rest; then defaults. Checks, in order: the
// github-app, the repository, every value's safety, the system prompt, the token Secret.
// cluster: the request namespace's state; it gives repository defaults (its taskmaster.io/repo
// and taskmaster.io/ref annotations, after parameters and event) and, when checking, is where
// the prompt and the Secret must be (enforce) or should be (warn).
RunResolution resolve_run(const RunInputs& inputs, const policy::Policy& policy,
                          const policy::PromptCatalog& prompts,
                          const ClusterContext& cluster = {});

}  // namespace coderun::decision
