#pragma once
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "policy/access_rules.h"

namespace coderun::policy {

struct VolumeSpec {
  std::string name;
  std::string mount_path;
  std::string config_map;  // ConfigMap volumes only
  std::string key;         // ConfigMap item mounted with subPath, when set
};

// How the decision uses the cluster's state of the request's namespace (the prompt in its
// controller-agents, its github-app-<app> Secret, its mcp-requirements): enforce denies what is
// missing, warn admits with warnings, off checks the prompt against the webhook's files only.
enum class ClusterChecks { kEnforce, kWarn, kOff };

// Where a served Workflow's pod plumbing goes (workflowPlumbing). none: only parameters, labels and
// the value-sources annotation; the CodeRun/DocsRun its resource step creates gets the gh-token
// initContainer, volumes and mounts at its own admission. The only mode Argo's
// templateReferencing Strict/Secure accepts. podSpecPatch: spec.volumes and the initContainer and
// mounts in spec.podSpecPatch, so every pod of the Workflow gets the token.
enum class WorkflowPlumbing { kNone, kPodSpecPatch };

struct TokenSpec {
  std::string image = "ghcr.io/myorg/ghapp-token-gen:latest";
  std::string container_name = "gh-token";
  std::string secret_name_pattern = "github-app-{app}";
  std::string app_id_key = "appId";
  std::string private_key_key = "privateKey";

  std::string secret_name(std::string_view app) const;
};

// The platform team's choices, as data (policy/policy.yaml). Defaults are the seed's.
struct Policy {
  std::vector<std::string> allowed_apps{"rex", "clippy", "qa", "triage", "security"};
  std::string prompts_dir = "/etc/agents";
  std::vector<std::string> workflow_templates{"coderun-template", "docsrun-template"};
  std::string default_ref = "main";
  size_t event_max_bytes = 1 << 20;
  size_t event_max_depth = 64;
  // Unset: off for the server (the watches run whenever it has a kube config, so a reload can
  // turn checks on); warn for the offline commands given --cluster-state.
  std::optional<ClusterChecks> cluster_checks;
  WorkflowPlumbing workflow_plumbing = WorkflowPlumbing::kNone;
  TokenSpec token;
  VolumeSpec workspace{"workspace", "/work/src", "", ""};
  VolumeSpec agents{"controller-agents", "/etc/agents", "controller-agents", ""};
  VolumeSpec mcp_requirements{"mcp-requirements", "/work/requirements.yaml", "mcp-requirements",
                              "requirements.yaml"};
  VolumeSpec token_volume{"gh-token", "/var/run/github", "", ""};
  // Who may use which app for which repository; absent: anyone who may create the object may
  // use any allowed app for any repository (the behaviour before access rules).
  std::optional<AccessPolicy> access;

  bool allows_app(std::string_view app) const;
  bool serves_template(std::string_view name) const;
  // "rex, clippy, qa, triage, security": the list as the seed's error message spells it.
  std::string allowed_apps_text() const;
};

// "none" or "podSpecPatch", as the policy spells it.
std::string_view to_string(WorkflowPlumbing plumbing);

// A policy that failed its schema or could not be read; what() is the user-facing reason.
class PolicyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Builds a Policy from a parsed document after checking it against policy.schema.json (compiled
// into the binary). Throws PolicyError naming the JSON path and the rule that failed.
Policy policy_from_json(const nlohmann::json& document);
// Reads YAML or JSON text; throws PolicyError.
Policy parse_policy(std::string_view text);
Policy load_policy_file(const std::string& path);

// The schema the policy is checked against, as shipped in policy/policy.schema.json.
const nlohmann::json& policy_schema();

}  // namespace coderun::policy
