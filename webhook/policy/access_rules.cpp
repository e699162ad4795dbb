#include "policy/access_rules.h"

#include <algorithm>
#include <vector>

namespace coderun::policy {
namespace {

char folded(char c, bool ignore_case) {
  return ignore_case && c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Which text prefixes each pattern prefix matches, one pattern element at a time: O(pattern x
// text) with no backtracking to go wrong when `*` and `**` mix, and no recursion for hostile
// input (patterns come from the policy, text from users; both are short).
bool glob_from(std::string_view p, std::string_view t, bool ignore_case) {
  std::vector<char> matched(t.size() + 1, 0), next(t.size() + 1, 0);
  matched[0] = 1;
  for (size_t pi = 0; pi < p.size(); ++pi) {
    const bool double_star = p[pi] == '*' && pi + 1 < p.size() && p[pi + 1] == '*';
    if (p[pi] == '*') {
      next[0] = matched[0];
      for (size_t j = 1; j <= t.size(); ++j)
        next[j] = matched[j] || (next[j - 1] && (double_star || t[j - 1] != '/'));
      if (double_star) ++pi;
    } else {
      next[0] = 0;
      for (size_t j = 1; j <= t.size(); ++j) {
        const bool one = p[pi] == '?' ? t[j - 1] != '/'
                                      : folded(p[pi], ignore_case) == folded(t[j - 1], ignore_case);
        next[j] = matched[j - 1] && one;
      }
    }
    matched.swap(next);
  }
  return matched[t.size()] != 0;
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
