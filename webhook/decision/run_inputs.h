#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "decision/run_kind.h"
#include "util/json_text.h"

namespace coderun::decision {

// The values a run carries, by their Workflow parameter names, in the order they are filled.
inline constexpr const char* kFields[] = {"owner", "repo",     "repoFullName", "ref",
                                          "sha",   "prNumber", "issueNumber",  "systemPromptPath"};

// What the user wrote in a Workflow, CodeRun or DocsRun, read into one shape.
struct RunInputs {
  RunKind kind = RunKind::kWorkflow;
  std::optional<std::string> app;  // github-app / spec.github.appName
  // The `event` argument as text ("" when absent). It points into the object the inputs were
  // read from (a 30 KB payload is not copied): valid while that object lives.
  std::string_view event_text;
  std::optional<nlohmann::json> event_object;  // spec.event when it is already an object
  std::map<std::string, std::string> given;    // field -> non-empty value the user set
  std::string given_source = "parameter";      // how a user-set value is named in sources
  std::vector<std::string> warnings;           // inputs that were ignored, and why
  // Paths the user set that must stay relative and inside their directory (taskRef, ...).
  std::map<std::string, std::string> relative_paths;
  // Parameters the webhook reads or fills that are given more than once: which one Argo and the
  // pod steps would use is not for the webhook to guess (an empty `ref` it fills, then a second
  // `ref` carrying a command).
  std::vector<std::string> duplicated;
};

// Reads spec.arguments.parameters of an Argo Workflow. A parameter with valueFrom counts as set.
RunInputs workflow_inputs(const nlohmann::json& workflow);

// Whether the webhook serves this Workflow: its template is one of the policy's, or it carries a
// github-app argument.
bool workflow_is_served(const nlohmann::json& workflow, const std::vector<std::string>& templates);

// Everything the decision reads of a Workflow, CodeRun or DocsRun (request.object), for the
// review decoder: the rest of the object (a Workflow's templates, status...) is never built.
const util::JsonKeep& run_object_fields();

// What an UPDATE must not change unchecked: every part of the spec the decision reads or the
// mutation writes. Metadata (labels, annotations), status and the rest of a Workflow (templates,
// shutdown, suspend: `argo stop` and the controller's own updates) are not guarded.
const util::JsonKeep& guarded_run_fields();

}  // namespace coderun::decision
