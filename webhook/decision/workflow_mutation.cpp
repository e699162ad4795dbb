#include "decision/workflow_mutation.h"

#include <algorithm>
#include <optional>
#include <string>

#include "decision/pod_plumbing.h"
#include "decision/pod_spec_patch_reader.h"
#include "util/json_text.h"
#include "util/yaml_json.h"

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
    for (auto& parameter : appended)
      patch.add("/spec/arguments/parameters/-", std::move(parameter));
  }
}

namespace {

// Adds the initContainer and the main container's mounts; returns whether anything was added.
bool merge_pod_plumbing(nlohmann::json& pod_patch, const RunResolution& resolution,
                        const PodPlumbing& plumbing) {
  bool added = merge_missing_by_name(pod_patch["initContainers"],
                                     {plumbing.token_container(resolution.app)});
  nlohmann::json& containers = pod_patch["containers"];
  if (containers.is_null()) containers = nlohmann::json::array();
  if (!containers.is_array()) return added;
  auto main = std::find_if(containers.begin(), containers.end(), [](const nlohmann::json& c) {
    return c.is_object() && c.value("name", nlohmann::json()) == "main";
  });
  if (main == containers.end()) {
    containers.push_back({{"name", "main"}, {"volumeMounts", plumbing.volume_mounts()}});
    return true;
  }
  return merge_missing_by_name((*main)["volumeMounts"], plumbing.volume_mounts(), "mountPath") ||
         added;
}

}  // namespace

void add_workflow_pod_plumbing(JsonPatchBuilder& patch, const nlohmann::json& workflow,
                               RunResolution& resolution, const PodPlumbing& plumbing) {
  const nlohmann::json* spec = member(&workflow, "spec");
  if (spec == nullptr) return;  // a served Workflow has a spec (its template or arguments)
  const nlohmann::json* existing = member(spec, "podSpecPatch");
  const bool absent = existing == nullptr || existing->is_null() ||
                      (existing->is_string() && existing->get_ref<const std::string&>().empty());
  std::optional<nlohmann::json> pod_patch;
  if (!absent) {
    PodSpecPatchRead read;
    if (existing->is_string()) {
      read = read_pod_spec_patch(existing->get_ref<const std::string&>());
      if (read.value && !read.value->is_object()) read = {std::nullopt, "is not a mapping"};
    } else {
      read.problem = "is not a string";
    }
    if (!read.value) {
      resolution.denial = Denial{
          "Error: spec.podSpecPatch " + read.problem +
              ". The webhook adds the gh-token initContainer and the run's volume mounts to it "
              "and does not change what it means: write it as JSON, or as YAML without anchors, "
              "aliases, merge keys or tags, with Argo expressions quoted",
          "podSpecPatch"};
      return;
    }
    pod_patch = std::move(read.value);
  }

  if (const auto* volumes = member(spec, "volumes"); volumes == nullptr || volumes->is_null()) {
    patch.add_serialized("/spec/volumes", plumbing.volumes_json());
  } else {
    add_missing_by_name(patch, volumes, "/spec/volumes", plumbing.volumes());
  }
  if (!pod_patch) {
    patch.add_serialized("/spec/podSpecPatch", plumbing.fresh_pod_spec_patch_json(resolution.app));
  } else if (merge_pod_plumbing(*pod_patch, resolution, plumbing)) {
    patch.replace("/spec/podSpecPatch", util::dump_json(*pod_patch));
  }
}

}  // namespace coderun::decision
