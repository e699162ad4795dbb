#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "decision/run_kind.h"
#include "policy/policy.h"

namespace coderun::decision {

// The first token Secret (policy token.secretNamePattern, github-app-{app}) that the run's pods
// would read and that belongs to another app than the run's own: in a CodeRun's or DocsRun's
// spec (initContainers, containers, volumes), in a Workflow's spec.volumes and podSpecPatch.
// A run that names app clippy but carries a gh-token initContainer reading github-app-rex would
// mint rex's token for a repository the access rules only granted clippy. nullopt: none.
// Only the parts the webhook reads are looked at; a Workflow's own templates are the namespace's
// RBAC on Secrets to guard (README, Access rules).
std::optional<std::string> foreign_token_secret(const nlohmann::json& object, RunKind kind,
                                                const policy::TokenSpec& token,
                                                std::string_view app);

}  // namespace coderun::decision
