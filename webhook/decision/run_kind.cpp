#include "decision/run_kind.h"

namespace coderun::decision {

std::string_view to_string(RunKind kind) {
  switch (kind) {
    case RunKind::kWorkflow:
      return "Workflow";
    case RunKind::kCodeRun:
      return "CodeRun";
    case RunKind::kDocsRun:
      return "DocsRun";
  }
  return "Unknown";
}

std::optional<RunKind> run_kind_of(std::string_view group, std::string_view kind) {
  if (group == "argoproj.io" && kind == "Workflow") return RunKind::kWorkflow;
  if (group == "taskmaster.io" && kind == "CodeRun") return RunKind::kCodeRun;
  if (group == "taskmaster.io" && kind == "DocsRun") return RunKind::kDocsRun;
  return std::nullopt;
}

}  // namespace coderun::decision
