#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admission/user_info.h"

namespace coderun::policy {

// Who may use which GitHub App for which repository (policy `access`). Pure: no I/O, no state.
enum class AccessMode { kEnforce, kAudit };

struct AccessRule {
  std::string name;  // optional; named in audit annotations and logs
  std::vector<std::string> users;
  std::vector<std::string> groups;
  std::vector<std::string> service_accounts;  // "NS:NAME" (the policy may spell the full name)
  std::vector<std::string> namespaces;        // empty: every namespace
  std::vector<std::string> apps;
  std::vector<std::string> repositories;  // owner/repo globs, matched case-insensitively
  std::vector<std::string> refs;          // globs; empty: every ref
  // The subjects are Workflow service accounts: the rule allows only CodeRuns and DocsRuns that
  // carry the taskmaster.io/workflow label (created by a Workflow's resource step), never a
  // Workflow or a hand-made run. See README "Access rules: the chain of submitters".
  bool workflow_runs = false;
};

struct AccessPolicy {
  AccessMode mode = AccessMode::kEnforce;
  std::vector<AccessRule> rules;
};

// One run as the rules see it. ref: empty when unknown (set through valueFrom), which no rule
// listing refs matches.
struct AccessRequest {
  const admission::UserInfo& subject;
  std::string_view namespace_name;
  std::string_view app;
  std::string_view repository;
  std::string_view ref;
  bool is_workflow = false;
  bool from_workflow = false;  // a run carrying the taskmaster.io/workflow label
};

struct AccessVerdict {
  bool allowed = false;
  std::string rule;     // the rule that allowed it ("rules[2]" when unnamed)
  std::string message;  // when not allowed: the denial, naming the subject and the field to change
};

// `*` matches any run of characters but '/', `**` any run including '/', `?` one character but
// '/'; everything else literally. No regular expressions: a pattern reads as what it matches.
bool glob_match(std::string_view pattern, std::string_view text, bool ignore_case);

// Rules are alternatives: the first that matches subject, namespace, app, repository and ref
// allows. None matching denies.
AccessVerdict check_access(const AccessPolicy& access, const AccessRequest& request);

// For the log at start and at each reload: what the access rules in force do.
std::string describe_access(const std::optional<AccessPolicy>& access);

// "argo:coderun-workflow" from "system:serviceaccount:argo:coderun-workflow" or itself.
std::string normalized_service_account(std::string_view name);

}  // namespace coderun::policy
