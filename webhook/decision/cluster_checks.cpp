#include "decision/cluster_checks.h"

namespace coderun::decision {
namespace {

constexpr std::string_view kRepoAnnotation = "taskmaster.io/repo";
constexpr std::string_view kRefAnnotation = "taskmaster.io/ref";

const cluster::NamespaceFacts& no_facts() {
  static const cluster::NamespaceFacts empty;
  return empty;
}

}  // namespace

const cluster::NamespaceFacts& ClusterContext::facts() const {
  const cluster::NamespaceFacts* found = view ? view->find(namespace_name) : nullptr;
  return found != nullptr ? *found : no_facts();
}

bool ClusterContext::checking() const {
  return view != nullptr && mode != policy::ClusterChecks::kOff && view->synced();
}

ClusterContext cluster_context(const cluster::ClusterView* view, std::string namespace_name,
                               const policy::Policy& policy) {
  ClusterContext context;
  context.view = view;
  context.namespace_name = std::move(namespace_name);
  context.mode = view == nullptr ? policy::ClusterChecks::kOff
                                 : policy.cluster_checks.value_or(policy::ClusterChecks::kOff);
  return context;
}

std::optional<github::Sourced> namespace_default(const ClusterContext& cluster,
                                                 std::string_view field) {
  if (!cluster.checking()) return std::nullopt;
  const auto& annotations = cluster.facts().annotations;
  const std::string_view annotation =
      field == "ref" ? kRefAnnotation : kRepoAnnotation;
  const auto it = annotations.find(annotation);
  if (it == annotations.end() || it->second.empty()) return std::nullopt;
  const std::string source = "namespace:" + std::string(annotation);
  if (field == "ref" || field == "repoFullName") return github::Sourced{it->second, source};
  const auto slash = it->second.find('/');
  if (slash == std::string::npos) return std::nullopt;  // repoFullName's check says why
  if (field == "owner") return github::Sourced{it->second.substr(0, slash), source};
  if (field == "repo") return github::Sourced{it->second.substr(slash + 1), source};
  return std::nullopt;
}

bool prompt_in_cluster(const ClusterContext& cluster, const policy::Policy& policy,
                       std::string_view name) {
  const auto& maps = cluster.facts().config_map_keys;
  const auto it = maps.find(policy.agents.config_map);
  return it != maps.end() && it->second.contains(name);
}

std::string where_prompts_looked(const ClusterContext& cluster, const policy::Policy& policy) {
  const bool present = cluster.facts().config_map_keys.contains(policy.agents.config_map);
  return " (looked in ConfigMap " + policy.agents.config_map + ", namespace " +
         cluster.namespace_name + (present ? ")" : ", which has no such ConfigMap)");
}

std::optional<std::string> missing_token_secret(const ClusterContext& cluster,
                                                const policy::Policy& policy,
                                                std::string_view app) {
  if (!cluster.checking() || !cluster.view->secrets_known()) return std::nullopt;
  const std::string name = policy.token.secret_name(app);
  if (cluster.facts().secrets.contains(name)) return std::nullopt;
  return "Error: Secret " + name + " not found in namespace " + cluster.namespace_name +
         ": the " + policy.token.container_name +
         " initContainer reads the GitHub App's credentials from it. Create it with: kubectl "
         "create secret generic " +
         name + " -n " + cluster.namespace_name + " --from-literal=" + policy.token.app_id_key +
         "=... --from-file=" + policy.token.private_key_key + "=...";
}

std::vector<std::string> cluster_warnings(const ClusterContext& cluster,
                                          const policy::Policy& policy) {
  std::vector<std::string> warnings;
  if (cluster.view == nullptr || cluster.mode == policy::ClusterChecks::kOff) return warnings;
  if (!cluster.view->synced()) {
    warnings.push_back(
        "cluster state not synced yet: prompt checked against the webhook's files, token Secret "
        "not checked");
    return warnings;
  }
  if (const auto stale = cluster.view->stale_for()) {
    warnings.push_back("cluster state is " + std::to_string(stale->count()) +
                       " s old (the API server's watch is broken): checked against the last "
                       "known state");
  }
  if (!cluster.view->secrets_known()) {
    warnings.push_back("the token Secret was not checked: the webhook may not list Secrets");
  }
  const auto& maps = cluster.facts().config_map_keys;
  const auto mcp = maps.find(policy.mcp_requirements.config_map);
  const std::string& key = policy.mcp_requirements.key;
  if (mcp == maps.end()) {
    warnings.push_back("ConfigMap " + policy.mcp_requirements.config_map +
                       " not found in namespace " + cluster.namespace_name +
                       ": the agent pod cannot mount it");
  } else if (!key.empty() && !mcp->second.contains(key)) {
    warnings.push_back("ConfigMap " + policy.mcp_requirements.config_map + " in namespace " +
                       cluster.namespace_name + " has no " + key +
                       ": the agent pod cannot mount it");
  }
  return warnings;
}

}  // namespace coderun::decision
