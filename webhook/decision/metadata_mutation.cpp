#include "decision/metadata_mutation.h"

#include <cctype>
#include <map>

#include "util/json_text.h"

namespace coderun::decision {

std::string label_safe(std::string_view value) {
  std::string out;
  for (const char c : value) {
    if (out.size() == 63) break;
    const bool allowed =
        std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    out += c == '/' ? '.' : (allowed ? c : '-');
  }
  const auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  while (!out.empty() && !alnum(out.back())) out.pop_back();
  size_t start = 0;
  while (start < out.size() && !alnum(out[start])) ++start;
  return out.substr(start);
}

nlohmann::json value_sources(const RunResolution& resolution) {
  nlohmann::json sources = nlohmann::json::object();
  for (const auto& [field, value] : resolution.values) sources[field] = value.source;
  return sources;
}

void add_metadata(JsonPatchBuilder& patch, const nlohmann::json& object,
                  const RunResolution& resolution) {
  const nlohmann::json* metadata = member(&object, "metadata");
  std::map<std::string, nlohmann::json> labels;
  if (const auto app = label_safe(resolution.app); !app.empty()) labels[kAppLabel] = app;
  if (const auto* repo = resolution.find("repoFullName")) {
    if (const auto value = label_safe(repo->value); !value.empty()) labels[kRepoLabel] = value;
  }
  if (const auto* pr = resolution.find("prNumber")) labels[kPrLabel] = label_safe(pr->value);

  const std::map<std::string, nlohmann::json> annotations{
      {kSourcesAnnotation, util::dump_json(value_sources(resolution))}};
  if (metadata == nullptr) {
    patch.add("/metadata", {{"labels", labels}, {"annotations", annotations}});
    return;
  }
  patch.add_missing_members(member(metadata, "labels"), "/metadata/labels", labels);
  patch.add_missing_members(member(metadata, "annotations"), "/metadata/annotations", annotations);
}

}  // namespace coderun::decision
