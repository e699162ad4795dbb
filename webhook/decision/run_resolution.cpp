#include "decision/run_resolution.h"

#include <algorithm>
#include <cctype>
#include <functional>

#include "github/event_parser.h"
#include "github/event_resolver.h"
#include "github/safe_values.h"
#include "util/ascii.h"

namespace coderun::decision {
namespace {

using CheckFn = std::function<std::optional<std::string>(std::string_view)>;

// A value quoted in a message: short, and with control characters made visible.
std::string shown(std::string_view value) {
  std::string out;
  for (const char c : value.substr(0, 80)) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[(c >> 4) & 15];
      out += kHex[c & 15];
    } else {
      out += c;
    }
  }
  if (value.size() > 80) out += "...";
  return "'" + out + "'";
}

std::optional<Sourced> from_event(const github::EventContext& event, std::string_view field) {
  const auto tag = [](const std::optional<Sourced>& value) -> std::optional<Sourced> {
    if (!value) return std::nullopt;
    return Sourced{value->value, "event:" + value->source};
  };
  if (field == "owner") return tag(event.owner);
  if (field == "repo") return tag(event.repo);
  if (field == "repoFullName") return tag(event.repo_full_name);
  if (field == "ref") return tag(event.ref);
  if (field == "sha") return tag(event.sha);
  if (field == "prNumber") return tag(event.pr_number);
  if (field == "issueNumber") return tag(event.issue_number);
  return std::nullopt;
}

CheckFn check_for(std::string_view field) {
  if (field == "owner") return github::check_owner;
  if (field == "repo") return github::check_repo;
  if (field == "repoFullName") return github::check_repo_full_name;
  if (field == "ref") return github::check_ref;
  if (field == "sha") return github::check_sha;
  if (field == "prNumber" || field == "issueNumber") return github::check_number;
  return {};
}

github::ParsedEvent parse_event(const RunInputs& inputs, const policy::Policy& policy) {
  const github::EventLimits limits{policy.event_max_bytes, policy.event_max_depth};
  if (inputs.event_object) return github::unwrap_event(*inputs.event_object, limits);
  return github::parse_event_argument(inputs.event_text, limits);
}

// owner/repo from repoFullName and the reverse, so that values the user set stay consistent
// with each other even when the event names another repository.
void derive_repository_values(const RunInputs& inputs, std::map<std::string, Sourced>& chosen) {
  const auto given = [&](const char* field) -> const std::string* {
    const auto it = inputs.given.find(field);
    return it != inputs.given.end() && !it->second.empty() ? &it->second : nullptr;
  };
  const std::string source = inputs.given_source;
  if (const std::string* full = given("repoFullName")) {
    const auto slash = full->find('/');
    if (slash != std::string::npos) {
      if (!given("owner")) chosen["owner"] = {full->substr(0, slash), source + ":repoFullName"};
      if (!given("repo")) chosen["repo"] = {full->substr(slash + 1), source + ":repoFullName"};
    }
  } else if (given("owner") && given("repo")) {
    chosen["repoFullName"] = {*given("owner") + "/" + *given("repo"), source + ":owner/repo"};
  }
}

bool is_repository_field(std::string_view field) {
  return field == "owner" || field == "repo" || field == "repoFullName";
}

std::optional<std::string> user_repository(const RunInputs& inputs,
                                           const std::map<std::string, Sourced>& derived) {
  if (const auto it = inputs.given.find("repoFullName");
      it != inputs.given.end() && !it->second.empty()) {
    return it->second;
  }
  if (const auto it = derived.find("repoFullName"); it != derived.end()) return it->second.value;
  return std::nullopt;
}

// GitHub names are case-insensitive.
bool same_repository(std::string_view a, std::string_view b) { return util::iequals(a, b); }

// owner and repo from repoFullName when nothing else gave them (an event without
// .repository.owner, say): the values a run ends up with are consistent, and a second pass over
// the mutated object, which sees repoFullName as set, adds nothing.
void complete_repository_values(RunResolution& result) {
  const Sourced* full = result.find("repoFullName");
  if (full == nullptr) return;
  const auto slash = full->value.find('/');
  if (slash == std::string::npos) return;
  const Sourced derived_owner{full->value.substr(0, slash), full->source + ":repoFullName"};
  const Sourced derived_repo{full->value.substr(slash + 1), full->source + ":repoFullName"};
  for (const auto& [field, value] :
       {std::pair{"owner", derived_owner}, std::pair{"repo", derived_repo}}) {
    if (result.find(field) != nullptr) continue;
    // Keep kFields order: owner and repo come before everything else.
    const auto at = std::string_view(field) == "owner"
                        ? result.values.begin()
                        : result.values.begin() + (result.find("owner") ? 1 : 0);
    result.values.insert(at, {field, value});
    result.to_fill.insert(result.to_fill.begin(), field);
  }
}

// What the pod will meet in its namespace: the prompt chosen (warn: checked against files so
// far), the token Secret, mcp-requirements and the state's own freshness.
void check_in_cluster(const ClusterContext& cluster, const policy::Policy& policy,
                      RunResolution& result) {
  for (auto& warning : cluster_warnings(cluster, policy)) result.warnings.push_back(warning);
  if (!cluster.checking()) return;
  if (!cluster.enforcing()) {
    const Sourced* prompt = result.find("systemPromptPath");
    const std::string& dir = policy.prompts_dir;
    if (prompt != nullptr && prompt->value.starts_with(dir + "/") &&
        !prompt_in_cluster(cluster, policy, std::string_view(prompt->value).substr(dir.size() + 1))) {
      // Warnings are cut at 120 bytes: the short form.
      result.warnings.push_back("System prompt " + prompt->value + " is not in ConfigMap " +
                                policy.agents.config_map + " of namespace " +
                                cluster.namespace_name);
    }
  }
  if (const auto missing = missing_token_secret(cluster, policy, result.app)) {
    if (cluster.enforcing()) {
      result.denial = Denial{*missing, "token-secret"};
    } else {
      result.warnings.push_back("Secret " + policy.token.secret_name(result.app) +
                                " not found in namespace " + cluster.namespace_name +
                                ": the token cannot be minted");
    }
  }
}

}  // namespace

const Sourced* RunResolution::find(std::string_view field) const {
  for (const auto& [name, value] : values) {
    if (name == field) return &value;
  }
  return nullptr;
}

RunResolution resolve_run(const RunInputs& inputs, const policy::Policy& policy,
                          const policy::PromptCatalog& prompts, const ClusterContext& cluster) {
  RunResolution result;
  result.warnings = inputs.warnings;
  result.app = inputs.app.value_or("");
  if (!inputs.duplicated.empty()) {
    std::string names;
    for (const auto& name : inputs.duplicated) names += (names.empty() ? "" : ", ") + name;
    result.denial = Denial{"Error: parameter " + names +
                               " is given more than once; give each parameter once, so that "
                               "the value checked is the value used",
                           "duplicate-parameter"};
    return result;
  }
  if (!policy.allows_app(result.app)) {
    result.denial = Denial{"Error: Invalid github-app '" + result.app +
                               "'. Must be one of: " + policy.allowed_apps_text(),
                           "github-app"};
    return result;
  }

  const github::ParsedEvent parsed = parse_event(inputs, policy);
  if (parsed.problem) {
    result.event_problem = parsed.problem;
    result.warnings.push_back(*parsed.problem);
  }
  const github::EventContext event = github::resolve_event(parsed.body, parsed.event_type);
  result.event_type = event.event_type;

  std::map<std::string, Sourced> derived;
  derive_repository_values(inputs, derived);
  // When the user names another repository than the event's, the event's ref, sha and numbers
  // belong to that other repository and are not used.
  bool event_is_about_run_repo = true;
  if (const auto user_repo = user_repository(inputs, derived);
      user_repo && event.repo_full_name &&
      !same_repository(*user_repo, event.repo_full_name->value)) {
    event_is_about_run_repo = false;
    result.warnings.push_back("the event is about " + shown(event.repo_full_name->value) +
                              ", not " + shown(*user_repo) +
                              ": its ref, sha and numbers are not used");
  }
  // The namespace's annotations come after the parameters and the event: the repository only
  // when neither names one, the ref only for the annotated repository.
  const bool repository_unnamed =
      !user_repository(inputs, derived) && !event.repo_full_name && !event.owner && !event.repo &&
      std::none_of(std::begin(kFields), std::begin(kFields) + 3, [&](const char* field) {
        const auto it = inputs.given.find(field);
        return it != inputs.given.end() && !it->second.empty();
      });
  const auto from_namespace = [&](std::string_view field) -> std::optional<Sourced> {
    if (is_repository_field(field)) {
      return repository_unnamed ? namespace_default(cluster, field) : std::nullopt;
    }
    if (field != "ref") return std::nullopt;
    const auto annotated = namespace_default(cluster, "repoFullName");
    const Sourced* chosen = result.find("repoFullName");
    if (!annotated || chosen == nullptr || !same_repository(chosen->value, annotated->value)) {
      return std::nullopt;
    }
    return namespace_default(cluster, "ref");
  };
  for (const char* field : kFields) {
    if (std::string_view(field) == "systemPromptPath") continue;
    const auto given = inputs.given.find(field);
    const auto from_the_event = from_event(event, field);
    if (given != inputs.given.end()) {
      if (given->second.empty()) continue;  // set through valueFrom: known only at run time
      result.values.emplace_back(field, Sourced{given->second, inputs.given_source});
      if (from_the_event && from_the_event->value != given->second) {
        result.warnings.push_back(std::string(field) + ": " + shown(given->second) +
                                  " set by the user is kept; the event says " +
                                  shown(from_the_event->value));
      }
      continue;
    }
    if (const auto it = derived.find(field); it != derived.end()) {
      result.values.emplace_back(field, it->second);
    } else if (from_the_event && (event_is_about_run_repo || is_repository_field(field))) {
      result.values.emplace_back(field, *from_the_event);
    } else if (const auto namespaced = from_namespace(field)) {
      result.values.emplace_back(field, *namespaced);
    } else if (std::string_view(field) == "ref") {
      result.values.emplace_back(field, Sourced{policy.default_ref, "default:policy.defaultRef"});
    } else {
      continue;
    }
    result.to_fill.emplace_back(field);
  }

  complete_repository_values(result);
  if (!result.find("repoFullName")) {
    result.denial = Denial{
        "Error: Repository information not available from event payload and no git context found",
        "repository"};
    return result;
  }
  for (const auto& [field, value] : result.values) {
    if (const auto check = check_for(field)) {
      if (const auto problem = check(value.value)) {
        result.denial = Denial{"Error: Invalid " + field + " " + shown(value.value) + " (from " +
                                   value.source + "): " + *problem,
                               "safe-value:" + field};
        return result;
      }
    }
  }

  for (const auto& [name, path] : inputs.relative_paths) {
    if (const auto problem = github::check_relative_path(path)) {
      result.denial = Denial{"Error: Invalid " + name + " " + shown(path) + ": " + *problem,
                             "safe-value:" + name};
      return result;
    }
  }

  // Paths as the agent pod sees them (the policy's promptsDir); the catalog knows where the
  // webhook itself reads them.
  const std::string& dir = policy.prompts_dir;
  // enforce: the pod's truth (its namespace's ConfigMap) decides; warn and off: the webhook's
  // files, warn adding what the namespace lacks.
  const auto prompt_exists = [&](std::string_view name) {
    return cluster.enforcing() ? prompt_in_cluster(cluster, policy, name)
                               : prompts.exists(dir, name);
  };
  const std::string looked = cluster.enforcing() ? where_prompts_looked(cluster, policy) : "";
  const std::string app_name = result.app + "_system-prompt.md";
  const std::string default_name = "default_system-prompt.md";
  if (const auto given = inputs.given.find("systemPromptPath"); given != inputs.given.end()) {
    if (!given->second.empty()) {
      if (const auto problem = github::check_path_inside(given->second, dir)) {
        result.denial =
            Denial{"Error: Invalid systemPromptPath " + shown(given->second) + ": " + *problem,
                   "safe-value:systemPromptPath"};
        return result;
      }
      const std::string_view name = std::string_view(given->second).substr(
          dir.ends_with('/') ? dir.size() : dir.size() + 1);
      if (!prompt_exists(name)) {
        result.denial = Denial{"Error: System prompt not found at " + given->second + looked,
                               "system-prompt"};
        return result;
      }
      result.values.emplace_back("systemPromptPath", Sourced{given->second, inputs.given_source});
    }
  } else if (prompt_exists(app_name)) {
    result.values.emplace_back("systemPromptPath",
                               Sourced{dir + "/" + app_name, "prompts:" + result.app});
    result.to_fill.emplace_back("systemPromptPath");
  } else if (prompt_exists(default_name)) {
    result.values.emplace_back("systemPromptPath",
                               Sourced{dir + "/" + default_name, "prompts:default"});
    result.to_fill.emplace_back("systemPromptPath");
  } else {
    result.denial = Denial{"Error: System prompt not found at " + dir + "/" + app_name + " or " +
                               dir + "/" + default_name + looked,
                           "system-prompt"};
    return result;
  }
  check_in_cluster(cluster, policy, result);
  return result;
}

}  // namespace coderun::decision
