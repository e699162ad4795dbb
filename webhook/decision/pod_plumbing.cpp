#include "decision/pod_plumbing.h"

#include <algorithm>

#include "util/json_text.h"

namespace coderun::decision {
namespace {

using nlohmann::json;

bool already_there(const json& array, const json& item, const char* also_key) {
  return std::any_of(array.begin(), array.end(), [&](const json& existing) {
    if (!existing.is_object()) return false;
    if (existing.value("name", json()) == item["name"]) return true;
    return also_key != nullptr && item.contains(also_key) &&
           existing.value(also_key, json()) == item[also_key];
  });
}

json secret_env(const std::string& name, const std::string& secret, const std::string& key) {
  return {{"name", name}, {"valueFrom", {{"secretKeyRef", {{"name", secret}, {"key", key}}}}}};
}

}  // namespace

json token_init_container(const policy::Policy& policy, std::string_view app) {
  const std::string secret = policy.token.secret_name(app);
  return {{"name", policy.token.container_name},
          {"image", policy.token.image},
          {"env", json::array({secret_env("APP_ID", secret, policy.token.app_id_key),
                               secret_env("PRIVATE_KEY", secret, policy.token.private_key_key)})},
          {"volumeMounts", json::array({{{"name", policy.token_volume.name},
                                         {"mountPath", policy.token_volume.mount_path}}})}};
}

std::vector<json> run_volumes(const policy::Policy& policy) {
  json mcp_config_map = {{"name", policy.mcp_requirements.config_map}};
  if (!policy.mcp_requirements.key.empty()) {
    mcp_config_map["items"] = json::array(
        {{{"key", policy.mcp_requirements.key}, {"path", policy.mcp_requirements.key}}});
  }
  return {
      {{"name", policy.workspace.name}, {"emptyDir", json::object()}},
      {{"name", policy.agents.name}, {"configMap", {{"name", policy.agents.config_map}}}},
      {{"name", policy.mcp_requirements.name}, {"configMap", mcp_config_map}},
      {{"name", policy.token_volume.name}, {"emptyDir", json::object()}},
  };
}

std::vector<json> run_volume_mounts(const policy::Policy& policy) {
  json mcp = {{"name", policy.mcp_requirements.name},
              {"mountPath", policy.mcp_requirements.mount_path},
              {"readOnly", true}};
  if (!policy.mcp_requirements.key.empty()) mcp["subPath"] = policy.mcp_requirements.key;
  return {
      {{"name", policy.workspace.name}, {"mountPath", policy.workspace.mount_path}},
      {{"name", policy.agents.name}, {"mountPath", policy.agents.mount_path}, {"readOnly", true}},
      mcp,
      {{"name", policy.token_volume.name}, {"mountPath", policy.token_volume.mount_path}},
  };
}

namespace {

nlohmann::json fresh_pod_patch(const nlohmann::json& token,
                               const std::vector<nlohmann::json>& mounts) {
  return {{"initContainers", nlohmann::json::array({token})},
          {"containers", nlohmann::json::array({{{"name", "main"}, {"volumeMounts", mounts}}})}};
}

}  // namespace

PodPlumbing::PodPlumbing(const policy::Policy& policy)
    : policy_(policy),
      volumes_(run_volumes(policy)),
      volume_mounts_(run_volume_mounts(policy)),
      volumes_json_(util::dump_json(nlohmann::json(volumes_))),
      volume_mounts_json_(util::dump_json(nlohmann::json(volume_mounts_))) {
  for (const auto& app : policy.allowed_apps) {
    auto token = token_init_container(policy, app);
    std::string fresh = util::dump_json(fresh_pod_patch(token, volume_mounts_));
    fresh_pod_spec_patches_json_.emplace(app, util::dump_json(nlohmann::json(fresh)));
    fresh_pod_spec_patches_.emplace(app, std::move(fresh));
    token_containers_.emplace(app, std::move(token));
  }
}

std::string PodPlumbing::fresh_pod_spec_patch_json(std::string_view app) const {
  const auto found = fresh_pod_spec_patches_json_.find(app);
  return found != fresh_pod_spec_patches_json_.end()
             ? found->second
             : util::dump_json(nlohmann::json(fresh_pod_spec_patch(app)));
}

nlohmann::json PodPlumbing::token_container(std::string_view app) const {
  const auto found = token_containers_.find(app);
  return found != token_containers_.end() ? found->second : token_init_container(policy_, app);
}

std::string PodPlumbing::fresh_pod_spec_patch(std::string_view app) const {
  const auto found = fresh_pod_spec_patches_.find(app);
  return found != fresh_pod_spec_patches_.end()
             ? found->second
             : util::dump_json(fresh_pod_patch(token_container(app), volume_mounts_));
}

void add_missing_by_name(JsonPatchBuilder& patch, const json* existing, const std::string& path,
                         const std::vector<json>& items, const char* also_key) {
  if (existing == nullptr || existing->is_null()) {
    patch.add(path, json(items));
    return;
  }
  if (!existing->is_array()) return;  // not ours to repair; the schema check reports it
  for (const auto& item : items) {
    if (!already_there(*existing, item, also_key)) patch.add(path + "/-", item);
  }
}

bool merge_missing_by_name(json& array, const std::vector<json>& items, const char* also_key) {
  if (array.is_null()) array = json::array();
  if (!array.is_array()) return false;
  bool added = false;
  for (const auto& item : items) {
    if (!already_there(array, item, also_key)) {
      array.push_back(item);
      added = true;
    }
  }
  return added;
}

}  // namespace coderun::decision
