#pragma once
#include <nlohmann/json.hpp>

#include "decision/json_patch_builder.h"
#include "decision/run_resolution.h"
#include "policy/policy.h"

namespace coderun::decision {

// Writes the resolved values a Workflow lacks as arguments (spec.arguments.parameters), only
// where the parameter is absent or empty.
void add_workflow_parameters(JsonPatchBuilder& patch, const nlohmann::json& workflow,
                             const RunResolution& resolution);

}  // namespace coderun::decision
