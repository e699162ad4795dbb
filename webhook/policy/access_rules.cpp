#include "policy/access_rules.h"

#include <algorithm>

namespace coderun::policy {
namespace {

char folded(char c, bool ignore_case) {
  return ignore_case && c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Iterative glob with backtracking to the last star: linear in practice, no recursion to
// overflow on hostile input (patterns come from the policy, text from users).
bool glob_from(std::string_view p, std::string_view t, bool ignore_case) {
  size_t pi = 0, ti = 0;
  size_t star_p = std::string_view::npos, star_t = 0;
  bool star_crosses_slash = false;
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star_crosses_slash = pi + 1 < p.size() && p[pi + 1] == '*';
      pi += star_crosses_slash ? 2 : 1;
      star_p = pi;
      star_t = ti;
      continue;
    }
    if (pi < p.size() && ((p[pi] == '?' && t[ti] != '/') ||
                          folded(p[pi], ignore_case) == folded(t[ti], ignore_case))) {
      ++pi;
      ++ti;
      continue;
    }
    // Let the last star take one more character, unless that character is a '/' a single star
    // may not cross.
    if (star_p != std::string_view::npos && (star_crosses_slash || t[star_t] != '/')) {
      ++star_t;
      ti = star_t;
      pi = star_p;
      continue;
    }
    return false;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

std::string joined(const std::vector<std::string>& values) {
  std::string text;
  for (const auto& value : values) text += (text.empty() ? "" : ", ") + value;
  return text;
}

bool contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool any_glob(const std::vector<std::string>& patterns, std::string_view text, bool ignore_case) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& pattern) {
    return glob_match(pattern, text, ignore_case);
  });
}

bool subject_matches(const AccessRule& rule, const admission::UserInfo& subject) {
  if (!subject.username.empty() && contains(rule.users, subject.username)) return true;
  if (!subject.service_account.empty() &&
      contains(rule.service_accounts, subject.service_account)) {
    return true;
  }
  return std::any_of(rule.groups.begin(), rule.groups.end(),
                     [&](const std::string& group) { return subject.in_group(group); });
}

bool refs_match(const AccessRule& rule, std::string_view ref) {
  // Git refs are case-sensitive; an unknown ref matches no list.
  return rule.refs.empty() || (!ref.empty() && any_glob(rule.refs, ref, false));
}

// Everything but the ref: a rule that fails only on its refs is named in the denial.
bool rule_matches_but_ref(const AccessRule& rule, const AccessRequest& request) {
  if (rule.workflow_runs && (request.is_workflow || !request.from_workflow)) return false;
  if (!subject_matches(rule, request.subject)) return false;
  if (!rule.namespaces.empty() && !contains(rule.namespaces, request.namespace_name)) return false;
  if (!contains(rule.apps, request.app)) return false;
  // GitHub's owner and repository names are case-insensitive: MyOrg/A-x is myorg/a-x.
  return any_glob(rule.repositories, request.repository, true);
}

bool rule_matches(const AccessRule& rule, const AccessRequest& request) {
  return rule_matches_but_ref(rule, request) && refs_match(rule, request.ref);
}

std::string rule_label(const AccessRule& rule, size_t index) {
  return rule.name.empty() ? "rules[" + std::to_string(index) + "]" : rule.name;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text, bool ignore_case) {
  return glob_from(pattern, text, ignore_case);
}

std::string describe_access(const std::optional<AccessPolicy>& access) {
  if (!access) {
    return "no access rules (policy access absent): anyone who may create a run may use any "
           "allowed app for any repository";
  }
  return std::string(access->mode == AccessMode::kAudit ? "audit" : "enforce") + " mode, " +
         std::to_string(access->rules.size()) + " access rule(s): " +
         (access->mode == AccessMode::kAudit ? "runs no rule allows are admitted and reported"
                                             : "runs no rule allows are denied");
}

std::string normalized_service_account(std::string_view name) {
  constexpr std::string_view kPrefix = "system:serviceaccount:";
  if (name.starts_with(kPrefix)) name.remove_prefix(kPrefix.size());
  return std::string(name);
}

AccessVerdict check_access(const AccessPolicy& access, const AccessRequest& request) {
  for (size_t i = 0; i < access.rules.size(); ++i) {
    const AccessRule& rule = access.rules[i];
    if (rule_matches(rule, request)) {
      return {true, rule_label(rule, i), ""};
    }
  }
  std::string message = "Error: " + request.subject.describe() + " may not use github-app " +
                        std::string(request.app) + " for repository " +
                        std::string(request.repository);
  message += " in namespace " + std::string(request.namespace_name) +
             ": no rule in the policy's access.rules allows it";
  for (size_t i = 0; i < access.rules.size(); ++i) {
    if (rule_matches_but_ref(access.rules[i], request)) {
      message += "; rule " + rule_label(access.rules[i], i) + " allows it at refs " +
                 joined(access.rules[i].refs) + " only, not at " +
                 (request.ref.empty() ? std::string("an unknown ref") : std::string(request.ref));
      break;
    }
  }
  const auto names_subject_for_workflow_runs = [&](const AccessRule& rule) {
    return rule.workflow_runs && subject_matches(rule, request.subject);
  };
  if (!request.is_workflow && !request.from_workflow &&
      std::any_of(access.rules.begin(), access.rules.end(), names_subject_for_workflow_runs)) {
    message += "; a run this service account creates must carry the taskmaster.io/workflow label";
  }
  return {false, "", message};
}

}  // namespace coderun::policy
