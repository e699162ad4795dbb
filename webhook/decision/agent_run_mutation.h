#pragma once
#include <nlohmann/json.hpp>

#include "decision/json_patch_builder.h"
#include "decision/pod_plumbing.h"
#include "decision/run_inputs.h"
#include "decision/run_resolution.h"
#include "policy/policy.h"

namespace coderun::decision {

// Reads a CodeRun or DocsRun (taskmaster.io/v1) into the shared input shape: spec.github.appName,
// spec.event, and the values the user set (spec.repo is repoFullName, spec.pullRequest prNumber,
// spec.prompts.system systemPromptPath).
RunInputs agent_run_inputs(const nlohmann::json& object, RunKind kind);

// Fills what the run lacks: the resolved values, the seed's defaults (user prompt, MCP file,
// token file, workspace, docs), the gh-token initContainer, the four volumes and their mounts.
// Only where absent or empty; never duplicates a container, volume or mount by name.
void add_agent_run_spec(JsonPatchBuilder& patch, const nlohmann::json& object,
                        const RunResolution& resolution, const policy::Policy& policy,
                        const PodPlumbing& plumbing, RunKind kind);

// Adds every member of `desired` that `existing` lacks (or holds as null or ""), recursing into
// objects; values the user set are kept as they are.
void add_missing_tree(JsonPatchBuilder& patch, const nlohmann::json* existing,
                      const std::string& path, const nlohmann::json& desired);

}  // namespace coderun::decision
