#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace coderun::decision {

// The three kinds of object the webhook serves; the logic is shared, only where values are read
// and written differs.
enum class RunKind { kWorkflow, kCodeRun, kDocsRun };

std::string_view to_string(RunKind kind);
// Workflow (argoproj.io), CodeRun and DocsRun (taskmaster.io); nullopt for anything else.
std::optional<RunKind> run_kind_of(std::string_view group, std::string_view kind);

}  // namespace coderun::decision
