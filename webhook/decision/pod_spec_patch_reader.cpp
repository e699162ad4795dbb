#include "decision/pod_spec_patch_reader.h"

#include "util/json_text.h"
#include "util/yaml_json.h"

namespace coderun::decision {
namespace {

// Past this, a podSpecPatch is not a pod patch anyone writes by hand; refusing it bounds what
// reading it costs.
constexpr size_t kMaxPodSpecPatchBytes = 256 * 1024;
constexpr size_t kMaxPodSpecPatchValues = 20'000;

}  // namespace

PodSpecPatchRead read_pod_spec_patch(std::string_view text) {
  if (text.size() > kMaxPodSpecPatchBytes) {
    return {std::nullopt, "is " + std::to_string(text.size()) +
                              " bytes; the webhook merges into podSpecPatches of at most " +
                              std::to_string(kMaxPodSpecPatchBytes / 1024) + " KiB"};
  }
  const size_t first = text.find_first_not_of(" \t\r\n\v\f");
  const bool argo_expressions = text.find("{{") != std::string_view::npos;
  if (first != std::string_view::npos && text[first] == '{') {
    auto parsed = util::parse_untrusted_json(text, 64, nullptr, kMaxPodSpecPatchValues);
    if (parsed.value) return {std::move(parsed.value), {}};
    return {
        std::nullopt,
        "starts with '{', so Argo reads it as JSON, and it is not valid JSON (" + parsed.error +
            (argo_expressions ? "; an Argo expression {{...}} must sit inside a JSON string" : "") +
            ")"};
  }
  util::YamlLimits limits;
  limits.max_nodes = kMaxPodSpecPatchValues;
  limits.argo_expressions_double_quoted = true;
  auto parsed = util::parse_yaml(text, limits);
  if (parsed.value) return {std::move(parsed.value), {}};
  return {std::nullopt,
          "holds " + parsed.error +
              (argo_expressions ? " (an Argo expression {{...}} must be in double quotes)" : "")};
}

}  // namespace coderun::decision
