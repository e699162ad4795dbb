#include "policy/policy.h"

#include <algorithm>

#include "schemas/embedded_schemas.h"
#include "util/files.h"
#include "util/yaml_json.h"

namespace coderun::policy {

namespace {

template <typename T>
void read_if_present(const nlohmann::json& object, const char* key, T& target) {
  if (const auto it = object.find(key); it != object.end()) target = it->get<T>();
}

void read_volume(const nlohmann::json& volumes, const char* key, VolumeSpec& target) {
  const auto it = volumes.find(key);
  if (it == volumes.end()) return;
  read_if_present(*it, "name", target.name);
  read_if_present(*it, "mountPath", target.mount_path);
  read_if_present(*it, "configMap", target.config_map);
  read_if_present(*it, "key", target.key);
}

std::vector<std::string> strings_if_present(const nlohmann::json& object, const char* key) {
  std::vector<std::string> values;
  read_if_present(object, key, values);
  return values;
}

// policy.access, already checked against the schema; apps outside allowedApps are refused here
// (a schema cannot compare two lists).
AccessPolicy read_access(const nlohmann::json& access, const Policy& policy) {
  AccessPolicy result;
  if (const auto mode = access.find("mode"); mode != access.end() && *mode == "audit")
    result.mode = AccessMode::kAudit;
  const auto& rules = access.at("rules");
  for (size_t i = 0; i < rules.size(); ++i) {
    const auto& in = rules[i];
    AccessRule rule;
    read_if_present(in, "name", rule.name);
    const auto& subjects = in.at("subjects");
    rule.users = strings_if_present(subjects, "users");
    rule.groups = strings_if_present(subjects, "groups");
    for (const auto& account : strings_if_present(subjects, "serviceAccounts"))
      rule.service_accounts.push_back(normalized_service_account(account));
    rule.namespaces = strings_if_present(in, "namespaces");
    rule.apps = strings_if_present(in, "apps");
    rule.repositories = strings_if_present(in, "repositories");
    rule.refs = strings_if_present(in, "refs");
    read_if_present(in, "workflowRuns", rule.workflow_runs);
    for (const auto& app : rule.apps) {
      if (!policy.allows_app(app)) {
        throw PolicyError("policy is invalid at $.access.rules[" + std::to_string(i) +
                          "].apps: '" + app + "' is not in allowedApps (" +
                          policy.allowed_apps_text() + ")");
      }
    }
    result.rules.push_back(std::move(rule));
  }
  return result;
}

}  // namespace

std::string TokenSpec::secret_name(std::string_view app) const {
  std::string name = secret_name_pattern;
  const auto at = name.find("{app}");
  if (at != std::string::npos) name.replace(at, 5, app);
  return name;
}

bool Policy::allows_app(std::string_view app) const {
  return std::find(allowed_apps.begin(), allowed_apps.end(), app) != allowed_apps.end();
}

bool Policy::serves_template(std::string_view name) const {
  return std::find(workflow_templates.begin(), workflow_templates.end(), name) !=
         workflow_templates.end();
}

std::string Policy::allowed_apps_text() const {
  std::string text;
  for (const auto& app : allowed_apps) text += (text.empty() ? "" : ", ") + app;
  return text;
}

std::string_view to_string(WorkflowPlumbing plumbing) {
  return plumbing == WorkflowPlumbing::kPodSpecPatch ? "podSpecPatch" : "none";
}

const nlohmann::json& policy_schema() { return schemas::policy_document(); }

Policy policy_from_json(const nlohmann::json& document) {
  if (document.is_null()) return Policy{};  // an empty file: every default
  const auto violations = schemas::policy().validate(document);
  if (!violations.empty()) {
    throw PolicyError("policy is invalid at " + violations.front().path + ": " +
                      violations.front().rule);
  }
  Policy policy;
  read_if_present(document, "allowedApps", policy.allowed_apps);
  read_if_present(document, "promptsDir", policy.prompts_dir);
  read_if_present(document, "workflowTemplates", policy.workflow_templates);
  read_if_present(document, "defaultRef", policy.default_ref);
  if (const auto checks = document.find("clusterChecks"); checks != document.end()) {
    const auto mode = checks->get<std::string>();  // one of three: the schema checked it
    policy.cluster_checks = mode == "enforce" ? ClusterChecks::kEnforce
                            : mode == "warn"  ? ClusterChecks::kWarn
                                              : ClusterChecks::kOff;
  }
  if (const auto plumbing = document.find("workflowPlumbing"); plumbing != document.end()) {
    // one of two: the schema checked it
    policy.workflow_plumbing = plumbing->get<std::string>() == "podSpecPatch"
                                   ? WorkflowPlumbing::kPodSpecPatch
                                   : WorkflowPlumbing::kNone;
  }
  if (const auto event = document.find("event"); event != document.end()) {
    read_if_present(*event, "maxBytes", policy.event_max_bytes);
    read_if_present(*event, "maxDepth", policy.event_max_depth);
  }
  if (const auto token = document.find("token"); token != document.end()) {
    read_if_present(*token, "image", policy.token.image);
    read_if_present(*token, "containerName", policy.token.container_name);
    read_if_present(*token, "secretNamePattern", policy.token.secret_name_pattern);
    read_if_present(*token, "appIdKey", policy.token.app_id_key);
    read_if_present(*token, "privateKeyKey", policy.token.private_key_key);
  }
  if (const auto volumes = document.find("volumes"); volumes != document.end()) {
    read_volume(*volumes, "workspace", policy.workspace);
    read_volume(*volumes, "agents", policy.agents);
    read_volume(*volumes, "mcpRequirements", policy.mcp_requirements);
    read_volume(*volumes, "token", policy.token_volume);
  }
  if (const auto access = document.find("access"); access != document.end())
    policy.access = read_access(*access, policy);
  return policy;
}

Policy parse_policy(std::string_view text) {
  nlohmann::json document;
  try {
    document = util::yaml_to_json(text);
  } catch (const std::exception& e) {
    throw PolicyError(std::string("policy is not valid YAML: ") + e.what());
  }
  return policy_from_json(document);
}

Policy load_policy_file(const std::string& path) {
  const auto text = util::read_file(path);
  if (!text) throw PolicyError("cannot read policy file " + path);
  try {
    return parse_policy(*text);
  } catch (const PolicyError& e) {
    throw PolicyError(path + ": " + e.what());
  }
}

}  // namespace coderun::policy
