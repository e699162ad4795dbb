#include "decision/run_inputs.h"

#include <algorithm>

#include "github/event_resolver.h"

namespace coderun::decision {
namespace {

using nlohmann::json;

const json* workflow_parameters(const json& workflow) {
  const auto spec = workflow.find("spec");
  if (spec == workflow.end() || !spec->is_object()) return nullptr;
  const auto arguments = spec->find("arguments");
  if (arguments == spec->end() || !arguments->is_object()) return nullptr;
  const auto parameters = arguments->find("parameters");
  if (parameters == arguments->end() || !parameters->is_array()) return nullptr;
  return &*parameters;
}

// Argo's parameter values are strings, but YAML users write numbers and booleans too.
std::optional<std::string> scalar_text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer() || value.is_number_unsigned() || value.is_boolean()) {
    return value.dump();
  }
  return std::nullopt;
}

bool is_field(const std::string& name) {
  return std::any_of(std::begin(kFields), std::end(kFields),
                     [&](const char* field) { return name == field; });
}

}  // namespace

RunInputs workflow_inputs(const json& workflow) {
  RunInputs inputs;
  inputs.kind = RunKind::kWorkflow;
  const json* parameters = workflow_parameters(workflow);
  if (parameters == nullptr) return inputs;
  std::map<std::string, int> seen;  // name -> times given
  for (const auto& parameter : *parameters) {
    if (!parameter.is_object()) continue;
    const auto name_it = parameter.find("name");
    if (name_it == parameter.end() || !name_it->is_string()) continue;
    const std::string name = name_it->get<std::string>();
    if (++seen[name] > 1) {
      if (seen[name] > 2) continue;  // reported once
      const bool read =
          name == "github-app" || name == "event" || name == "taskRef" || is_field(name);
      if (read) {
        inputs.duplicated.push_back(name);
      } else {
        inputs.warnings.push_back("parameter " + name + " is given twice; the first is used");
      }
      continue;
    }
    const auto value_it = parameter.find("value");
    std::optional<std::string> value;
    if (value_it != parameter.end() && !value_it->is_null() && name != "event") {
      value = scalar_text(*value_it);
      if (!value && name != "event") {
        inputs.warnings.push_back("parameter " + name + " is a " + value_it->type_name() +
                                  ", not a string; ignored");
      }
    }
    if (name == "github-app") {
      inputs.app = value.value_or("");
    } else if (name == "event") {
      if (value_it != parameter.end() && value_it->is_string()) {
        inputs.event_text = value_it->get_ref<const std::string&>();
      } else if (value_it != parameter.end() && value_it->is_object()) {
        inputs.event_object = *value_it;  // written as YAML mapping rather than a JSON string
      } else if (value_it != parameter.end() && !value_it->is_null()) {
        inputs.warnings.push_back(std::string("parameter event is a ") + value_it->type_name() +
                                  ", not a JSON text; ignored");
      }
    } else if (name == "taskRef") {
      if (value && !value->empty()) inputs.relative_paths["taskRef"] = *value;
    } else if (is_field(name)) {
      const bool set_otherwise = parameter.contains("valueFrom") ||
                                 (value_it != parameter.end() && !value_it->is_null() && !value);
      if (value && !value->empty()) {
        inputs.given[name] = *value;
      } else if (set_otherwise) {
        inputs.given[name] = "";  // valueFrom, or a value of another type: the user's, never filled
      }
    }
  }
  return inputs;
}

bool workflow_is_served(const json& workflow, const std::vector<std::string>& templates) {
  const auto spec = workflow.find("spec");
  if (spec != workflow.end() && spec->is_object()) {
    const auto ref = spec->find("workflowTemplateRef");
    if (ref != spec->end() && ref->is_object()) {
      const auto name = ref->find("name");
      if (name != ref->end() && name->is_string() &&
          std::find(templates.begin(), templates.end(), name->get<std::string>()) !=
              templates.end()) {
        return true;
      }
    }
  }
  const json* parameters = workflow_parameters(workflow);
  if (parameters == nullptr) return false;
  return std::any_of(parameters->begin(), parameters->end(), [](const json& parameter) {
    return parameter.is_object() && parameter.value("name", json()) == "github-app";
  });
}

namespace {

using Keep = util::JsonKeep;
const Keep kAll;

// A Workflow's arguments and plumbing; a CodeRun's or DocsRun's whole spec as its schema
// (policy/coderun.schema.json, docsrun.schema.json) describes it, since the patched object is
// checked against that schema.
const Keep& run_spec_fields() {
  static const Keep spec{Keep::Mode::kMembers,
                         {{"arguments", &kAll},
                          {"workflowTemplateRef", &kAll},
                          {"podSpecPatch", &kAll},
                          {"volumes", &kAll},
                          {"repo", &kAll},
                          {"owner", &kAll},
                          {"ref", &kAll},
                          {"sha", &kAll},
                          {"pullRequest", &kAll},
                          {"issueNumber", &kAll},
                          {"prompts", &kAll},
                          {"mcpRequirementsFile", &kAll},
                          {"github", &kAll},
                          {"workspace", &kAll},
                          {"taskRef", &kAll},
                          // Whole: on UPDATE the event is compared as stored (the CRD keeps
                          // all of it), not only the fields the resolver reads.
                          {"event", &kAll},
                          {"initContainers", &kAll},
                          {"volumeMounts", &kAll},
                          {"docs", &kAll}}};
  return spec;
}

}  // namespace

const util::JsonKeep& run_object_fields() {
  // uid: the validating pass names the stored object in its Events.
  static const Keep metadata{Keep::Mode::kMembers,
                             {{"name", &kAll},
                              {"generateName", &kAll},
                              {"namespace", &kAll},
                              {"uid", &kAll},
                              {"labels", &kAll},
                              {"annotations", &kAll}}};
  // An array in place of the object (or oldObject) is read as its presence: never decided on.
  static const Keep object{
      Keep::Mode::kMembers,
      {{"apiVersion", &kAll}, {"kind", &kAll}, {"metadata", &metadata}, {"spec", &run_spec_fields()}},
      nullptr,
      false};
  return object;
}

const util::JsonKeep& guarded_run_fields() {
  static const Keep guarded{Keep::Mode::kMembers, {{"spec", &run_spec_fields()}}};
  return guarded;
}

}  // namespace coderun::decision
