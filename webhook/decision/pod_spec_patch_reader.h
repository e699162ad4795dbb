#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace coderun::decision {

struct PodSpecPatchRead {
  std::optional<nlohmann::json> value;
  std::string problem;  // why it cannot be read without changing what Argo reads
};

// Reads a Workflow's podSpecPatch as Argo does (util.ApplyPodSpecPatch): JSON when its first
// non-space character is '{', otherwise YAML converted by sigs.k8s.io/yaml. Whatever cannot be
// converted exactly is refused, never approximated: the JSON written back must mean what the user
// wrote. At most 256 KiB and 20,000 values.
PodSpecPatchRead read_pod_spec_patch(std::string_view text);

}  // namespace coderun::decision
