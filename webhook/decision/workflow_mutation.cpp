#include "decision/workflow_mutation.h"

#include <string>

namespace coderun::decision {

void add_workflow_parameters(JsonPatchBuilder& patch, const nlohmann::json& workflow,
                             const RunResolution& resolution) {
  if (resolution.to_fill.empty()) return;
  const nlohmann::json* spec = member(&workflow, "spec");
  const nlohmann::json* arguments = member(spec, "arguments");
  const nlohmann::json* parameters = member(arguments, "parameters");

  nlohmann::json appended = nlohmann::json::array();
  for (const auto& field : resolution.to_fill) {
    const Sourced* value = resolution.find(field);
    if (value == nullptr) continue;
    bool written = false;
    if (parameters != nullptr && parameters->is_array()) {
      for (size_t i = 0; i < parameters->size(); ++i) {
        const auto& parameter = (*parameters)[i];
        if (!parameter.is_object() || parameter.value("name", nlohmann::json()) != field) continue;
        const std::string path = "/spec/arguments/parameters/" + std::to_string(i) + "/value";
        if (parameter.contains("value")) {
          patch.replace(path, value->value);  // present but empty or null
        } else {
          patch.add(path, value->value);
        }
        written = true;
        break;
      }
    }
    if (!written) appended.push_back({{"name", field}, {"value", value->value}});
  }
  if (appended.empty()) return;
  if (spec == nullptr) {
    patch.add("/spec", {{"arguments", {{"parameters", appended}}}});
  } else if (arguments == nullptr) {
    patch.add("/spec/arguments", {{"parameters", appended}});
  } else if (parameters == nullptr || !parameters->is_array()) {
    patch.add("/spec/arguments/parameters", appended);
  } else {
    for (auto& parameter : appended) patch.add("/spec/arguments/parameters/-", std::move(parameter));
  }
}

}  // namespace coderun::decision
