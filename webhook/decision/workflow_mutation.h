#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "decision/json_patch_builder.h"
#include "decision/pod_plumbing.h"
#include "decision/run_resolution.h"
#include "policy/policy.h"

namespace coderun::decision {

// Writes the resolved values a Workflow lacks as arguments (spec.arguments.parameters), only
// where the parameter is absent or empty.
void add_workflow_parameters(JsonPatchBuilder& patch, const nlohmann::json& workflow,
                             const RunResolution& resolution);

// With workflowPlumbing: podSpecPatch only (decide() does not call it under none).
// The same pod plumbing as a CodeRun, at workflow level: the four volumes in spec.volumes, and
// the gh-token initContainer and the mounts of the main container in spec.podSpecPatch (Argo
// applies it to every pod), merged into a podSpecPatch the user wrote, never replacing it.
// Merging never changes what the user's podSpecPatch means to Argo: one that cannot be converted
// exactly (YAML anchors, tags, unquoted {{...}}, invalid) is refused through resolution.denial.
void add_workflow_pod_plumbing(JsonPatchBuilder& patch, const nlohmann::json& workflow,
                               RunResolution& resolution, const PodPlumbing& plumbing);

}  // namespace coderun::decision
