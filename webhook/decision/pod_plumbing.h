#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "decision/json_patch_builder.h"
#include "policy/policy.h"

namespace coderun::decision {

// Small builders, one per injected piece (core/v1 shapes), from the policy.

// initContainer gh-token: APP_ID and PRIVATE_KEY from secret github-app-<app>, writes the token
// into the gh-token volume.
nlohmann::json token_init_container(const policy::Policy& policy, std::string_view app);
// workspace (emptyDir), controller-agents (ConfigMap), mcp-requirements (ConfigMap item),
// gh-token (emptyDir).
std::vector<nlohmann::json> run_volumes(const policy::Policy& policy);
// Where the agent container sees them; mcp-requirements is a single file (subPath).
std::vector<nlohmann::json> run_volume_mounts(const policy::Policy& policy);

// Everything injected into a run's pods, built once per policy: it depends only on the policy and
// the app, and building it for every request cost more than the rest of the decision.
class PodPlumbing {
 public:
  explicit PodPlumbing(const policy::Policy& policy);

  const std::vector<nlohmann::json>& volumes() const { return volumes_; }
  const std::vector<nlohmann::json>& volume_mounts() const { return volume_mounts_; }
  nlohmann::json token_container(std::string_view app) const;
  // The podSpecPatch of a Workflow that had none: the token initContainer and the main
  // container's mounts, serialised.
  std::string fresh_pod_spec_patch(std::string_view app) const;
  // The same, as serialised JSON values ready for a patch.
  const std::string& volumes_json() const { return volumes_json_; }
  const std::string& volume_mounts_json() const { return volume_mounts_json_; }
  std::string fresh_pod_spec_patch_json(std::string_view app) const;

 private:
  const policy::Policy& policy_;
  std::vector<nlohmann::json> volumes_;
  std::vector<nlohmann::json> volume_mounts_;
  std::map<std::string, nlohmann::json, std::less<>> token_containers_;  // allowed apps
  std::map<std::string, std::string, std::less<>> fresh_pod_spec_patches_;
  std::map<std::string, std::string, std::less<>> fresh_pod_spec_patches_json_;
  std::string volumes_json_;
  std::string volume_mounts_json_;
};

// Appends each item whose "name" is not in `existing` (nor, with also_key, whose value under
// also_key is): never duplicates, never changes what is there. Adds the whole array when absent.
void add_missing_by_name(JsonPatchBuilder& patch, const nlohmann::json* existing,
                         const std::string& path, const std::vector<nlohmann::json>& items,
                         const char* also_key = nullptr);

// The same merge on a JSON value rather than a patch; returns whether anything was added.
bool merge_missing_by_name(nlohmann::json& array, const std::vector<nlohmann::json>& items,
                           const char* also_key = nullptr);

}  // namespace coderun::decision
