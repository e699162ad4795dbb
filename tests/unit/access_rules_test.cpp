#include <catch2/catch.hpp>

#include "admission/review.h"
#include "decision/decide.h"
#include "policy/access_rules.h"
#include "policy/policy.h"
#include "test_support.h"

using coderun::admission::UserInfo;
using coderun::decision::decide;
using coderun::decision::Decision;
using coderun::decision::Phase;
using coderun::policy::AccessPolicy;
using coderun::policy::AccessRequest;
using coderun::policy::check_access;
using coderun::policy::glob_match;
using coderun::policy::parse_policy;
using coderun::policy::PolicyError;
using coderun::testing::create_request;
using coderun::testing::FakePrompts;
using coderun::testing::params;
using coderun::testing::workflow_with;
using nlohmann::json;

namespace {

// The README's acceptance example: team A may use rex and clippy on myorg/a-* only, in its
// namespace; the Workflow service account creates runs for what was admitted on the Workflow.
constexpr const char* kTeamAPolicy = R"(
access:
  mode: enforce
  rules:
    - name: team-a
      subjects: {groups: [team-a]}
      namespaces: [team-a]
      apps: [rex, clippy]
      repositories: ["myorg/a-*"]
    - name: release-bot
      subjects: {users: [release-bot]}
      apps: [qa]
      repositories: [myorg/releases]
      refs: ["main", "release/**"]
    - name: workflow-runs
      subjects: {serviceAccounts: ["system:serviceaccount:team-a:coderun-workflow"]}
      namespaces: [team-a]
      apps: [rex, clippy]
      repositories: ["myorg/a-*"]
      workflowRuns: true
)";

UserInfo user(std::string name, std::vector<std::string> groups = {}) {
  UserInfo info;
  info.username = std::move(name);
  info.groups = std::move(groups);
  info.service_account = coderun::admission::service_account_of(info.username);
  return info;
}

AccessPolicy team_a_access() { return *parse_policy(kTeamAPolicy).access; }

bool allowed(const UserInfo& who, std::string_view ns, std::string_view app,
             std::string_view repo, std::string_view ref = "main", bool is_workflow = true,
             bool from_workflow = false) {
  const AccessRequest request{who, ns, app, repo, ref, is_workflow, from_workflow};
  return check_access(team_a_access(), request).allowed;
}

const FakePrompts kPrompts({"/etc/agents/rex_system-prompt.md",
                            "/etc/agents/default_system-prompt.md"});

json code_run(const std::string& repo, bool workflow_label) {
  json metadata = {{"generateName", "run-"}, {"namespace", "team-a"}};
  if (workflow_label) metadata["labels"] = {{"taskmaster.io/workflow", "wf-abc"}};
  return {{"apiVersion", "taskmaster.io/v1"},
          {"kind", "CodeRun"},
          {"metadata", metadata},
          {"spec", {{"repo", repo}, {"github", {{"appName", "rex"}}}}}};
}

Decision decide_as(const json& object, const UserInfo& who, const coderun::policy::Policy& policy,
                   Phase phase = Phase::kMutate, std::string ns = "team-a") {
  auto request = create_request(object);
  request.user_info = who;
  request.namespace_name = std::move(ns);
  return decide(request, policy, kPrompts, phase);
}

}  // namespace

TEST_CASE("globs: * stays within a name, ** crosses '/', ? is one character", "[access]") {
  CHECK(glob_match("myorg/*", "myorg/anything", true));
  CHECK(glob_match("myorg/a-*", "myorg/a-tools", true));
  CHECK(glob_match("myorg/a-*", "myorg/a-", true));
  CHECK_FALSE(glob_match("myorg/a-*", "myorg/b-tools", true));
  CHECK_FALSE(glob_match("myorg/*", "otherorg/x", true));
  CHECK_FALSE(glob_match("myorg*", "myorg/x", true));  // a single star never crosses '/'
  CHECK_FALSE(glob_match("*", "a/b", false));
  CHECK(glob_match("*/*", "a/b", false));
  CHECK(glob_match("release/**", "release/2026/11", false));
  CHECK_FALSE(glob_match("release/*", "release/2026/11", false));
  CHECK(glob_match("v?.0", "v1.0", false));
  CHECK_FALSE(glob_match("v?.0", "v10.0", false));
  CHECK(glob_match("myorg/exact", "myorg/exact", true));
  CHECK_FALSE(glob_match("myorg/exact", "myorg/exact2", true));
  CHECK_FALSE(glob_match("myorg/exact", "myorg/exac", true));
  // `**` and `*` together: the `**` takes what the `*` may not.
  CHECK(glob_match("**a*", "a/ba", false));
  CHECK(glob_match("**/x*", "a/b/xy", false));
  CHECK_FALSE(glob_match("**/x*", "a/b/x/y", false));
  CHECK(glob_match("", "", false));
  CHECK_FALSE(glob_match("", "a", false));
  CHECK(glob_match("**", "", false));
  // Regular-expression characters are literal.
  CHECK_FALSE(glob_match("myorg/a.b", "myorg/axb", true));
  CHECK(glob_match("myorg/a.b", "myorg/a.b", true));
}

TEST_CASE("repositories match case-insensitively as GitHub's names; refs do not", "[access]") {
  CHECK(glob_match("myorg/a-*", "MyOrg/A-Tools", true));
  CHECK_FALSE(glob_match("main", "Main", false));
  const auto alice = user("alice", {"team-a"});
  CHECK(allowed(alice, "team-a", "rex", "MyOrg/A-Tools"));
}

TEST_CASE("a hostile text against many stars ends quickly and correctly", "[access]") {
  const std::string text(5000, 'a');
  CHECK_FALSE(glob_match("*a*a*a*a*a*a*a*a*b", text, false));
  CHECK(glob_match("**a", text, false));
}

TEST_CASE("subjects: users, groups, service accounts in either spelling", "[access]") {
  CHECK(allowed(user("alice", {"team-a"}), "team-a", "rex", "myorg/a-1"));
  CHECK_FALSE(allowed(user("bob", {"team-b"}), "team-a", "rex", "myorg/a-1"));
  CHECK_FALSE(allowed(user("team-a"), "team-a", "rex", "myorg/a-1"));  // a user named as a group
  CHECK(allowed(user("release-bot"), "anywhere", "qa", "myorg/releases"));
  CHECK_FALSE(allowed(user("release-bot", {"x"}), "team-a", "rex", "myorg/a-1"));
  // A service account matches its NS:NAME whichever way the policy spelled it.
  const auto workflow_sa = user("system:serviceaccount:team-a:coderun-workflow");
  CHECK(workflow_sa.service_account == "team-a:coderun-workflow");
  CHECK(allowed(workflow_sa, "team-a", "rex", "myorg/a-1", "main", false, true));
  const auto policy = parse_policy(R"(
access:
  rules:
    - subjects: {serviceAccounts: ["ci:builder"]}
      apps: [rex]
      repositories: ["myorg/*"]
)");
  const auto builder = user("system:serviceaccount:ci:builder");
  CHECK(check_access(*policy.access, {builder, "ci", "rex", "myorg/x", "", false, false}).allowed);
  // A user merely named like a service account's short form is not one.
  CHECK_FALSE(check_access(*policy.access, {user("ci:builder"), "ci", "rex", "myorg/x", "", false,
                                            false})
                  .allowed);
}

TEST_CASE("namespaces, apps and refs narrow a rule", "[access]") {
  const auto alice = user("alice", {"team-a"});
  CHECK_FALSE(allowed(alice, "team-b", "rex", "myorg/a-1"));  // outside its namespaces
  CHECK_FALSE(allowed(alice, "team-a", "qa", "myorg/a-1"));   // app not in the rule
  const auto bot = user("release-bot");
  CHECK(allowed(bot, "x", "qa", "myorg/releases", "release/2026/11"));
  CHECK_FALSE(allowed(bot, "x", "qa", "myorg/releases", "feature/x"));
  CHECK_FALSE(allowed(bot, "x", "qa", "myorg/releases", ""));  // unknown ref: no list matches
  CHECK(allowed(alice, "team-a", "rex", "myorg/a-1", ""));     // a rule without refs: any ref
  const AccessRequest feature{bot, "x", "qa", "myorg/releases", "feature/x", true, false};
  CHECK_THAT(check_access(team_a_access(), feature).message,
             Catch::EndsWith("no rule in the policy's access.rules allows it; rule release-bot "
                             "allows it at refs main, release/** only, not at feature/x"));
  // Only a rule failing on its refs alone is named: otherwise the message is the plain one.
  const AccessRequest other{alice, "team-b", "rex", "myorg/b", "main", true, false};
  CHECK_THAT(check_access(team_a_access(), other).message,
             Catch::EndsWith("no rule in the policy's access.rules allows it"));
}

TEST_CASE("rules are alternatives: the first that matches is named", "[access]") {
  const auto policy = parse_policy(R"(
access:
  rules:
    - name: narrow
      subjects: {users: [alice]}
      apps: [rex]
      repositories: [myorg/a]
    - name: broad
      subjects: {groups: [devs]}
      apps: [rex, clippy]
      repositories: ["myorg/*"]
)");
  const auto alice = user("alice", {"devs"});
  CHECK(check_access(*policy.access, {alice, "ns", "rex", "myorg/a", "", true, false}).rule ==
        "narrow");
  CHECK(check_access(*policy.access, {alice, "ns", "clippy", "myorg/a", "", true, false}).rule ==
        "broad");
  const auto carol = user("carol", {"ops"});
  const auto verdict = check_access(*policy.access, {carol, "ns", "rex", "myorg/a", "", true, false});
  CHECK_FALSE(verdict.allowed);
  CHECK(verdict.message ==
        "Error: user carol (groups ops) may not use github-app rex for repository myorg/a in "
        "namespace ns: no rule in the policy's access.rules allows it");
}

TEST_CASE("workflowRuns rules allow only labelled runs, never Workflows", "[access]") {
  const auto workflow_sa = user("system:serviceaccount:team-a:coderun-workflow",
                                {"system:serviceaccounts", "system:serviceaccounts:team-a"});
  CHECK(allowed(workflow_sa, "team-a", "rex", "myorg/a-1", "main", false, true));
  CHECK_FALSE(allowed(workflow_sa, "team-a", "rex", "myorg/a-1", "main", false, false));
  CHECK_FALSE(allowed(workflow_sa, "team-a", "rex", "myorg/a-1", "main", true, true));
  CHECK_FALSE(allowed(workflow_sa, "team-a", "rex", "myorg/b", "main", false, true));
  const AccessRequest unlabelled{workflow_sa, "team-a", "rex", "myorg/a-1", "main", false, false};
  CHECK_THAT(check_access(team_a_access(), unlabelled).message,
             Catch::Contains("must carry the taskmaster.io/workflow label"));
}

TEST_CASE("policy access: schema-checked, apps within allowedApps, absent by default",
          "[access][policy]") {
  CHECK_FALSE(parse_policy("allowedApps: [rex]\n").access.has_value());
  CHECK(parse_policy(kTeamAPolicy).access->mode == coderun::policy::AccessMode::kEnforce);
  CHECK(parse_policy("access: {mode: audit, rules: [{subjects: {users: [a]}, apps: [rex], "
                     "repositories: [a/b]}]}")
            .access->mode == coderun::policy::AccessMode::kAudit);
  CHECK_THROWS_WITH(parse_policy("allowedApps: [rex]\naccess: {rules: [{subjects: {users: [a]}, "
                                 "apps: [clippy], repositories: [a/b]}]}"),
                    Catch::Contains("$.access.rules[0].apps") &&
                        Catch::Contains("'clippy' is not in allowedApps"));
  CHECK_THROWS_AS(parse_policy("access: {mode: warn, rules: []}"), PolicyError);
  CHECK_THROWS_AS(parse_policy("access: {rules: []}"), PolicyError);
  CHECK_THROWS_AS(parse_policy("access: {rules: [{subjects: {}, apps: [rex], repositories: [a/b]}]}"),
                  PolicyError);
  CHECK_THROWS_AS(parse_policy("access: {rules: [{subjects: {users: [a]}, apps: [rex], "
                               "repositories: [\"not-a-repo\"]}]}"),
                  PolicyError);
  CHECK_THROWS_AS(parse_policy("access: {rules: [{subjects: {serviceAccounts: [justaname]}, "
                               "apps: [rex], repositories: [a/b]}]}"),
                  PolicyError);
  CHECK_THROWS_AS(parse_policy("access: {rules: [{subjects: {users: [a]}, apps: [rex], "
                               "repositories: [a/b], regex: \".*\"}]}"),
                  PolicyError);
  CHECK(coderun::policy::describe_access(std::nullopt).find("no access rules") == 0);
}

TEST_CASE("decision: no access rules, today's behaviour", "[access][decision]") {
  const auto decision = decide_as(code_run("myorg/b", false), user("anyone"),
                                  coderun::policy::Policy{});
  CHECK(decision.response.allowed);
  CHECK_FALSE(decision.access.has_value());
  CHECK(decision.response.audit_annotations.count("access") == 0);
}

TEST_CASE("decision: enforce denies what no rule allows, in both passes", "[access][decision]") {
  const auto policy = parse_policy(kTeamAPolicy);
  const auto alice = user("alice", {"team-b"});
  for (const auto phase : {Phase::kMutate, Phase::kValidate}) {
    const auto decision = decide_as(code_run("myorg/b", false), alice, policy, phase, "team-b");
    REQUIRE_FALSE(decision.response.allowed);
    CHECK(decision.response.code == 403);
    CHECK(decision.rule == "access");
    CHECK(decision.response.patch.empty());
    CHECK(decision.response.message ==
          "Error: user alice (groups team-b) may not use github-app rex for repository myorg/b in "
          "namespace team-b: no rule in the policy's access.rules allows it");
    REQUIRE(decision.access.has_value());
    CHECK(decision.access->result == "denied");
  }
  const auto member = user("alice", {"team-a"});
  const auto allowed_run = decide_as(code_run("myorg/a-tools", false), member, policy);
  CHECK(allowed_run.response.allowed);
  CHECK(allowed_run.response.audit_annotations.at("access") == "allowed");
  CHECK(allowed_run.response.audit_annotations.at("access-rule") == "team-a");
  CHECK_FALSE(allowed_run.response.patch.empty());
}

TEST_CASE("decision: a Workflow is checked against its submitter", "[access][decision]") {
  const auto policy = parse_policy(kTeamAPolicy);
  const json event = {{"repository", {{"full_name", "myorg/b"}, {"name", "b"},
                                      {"owner", {{"login", "myorg"}}}}}};
  const json workflow =
      workflow_with(params({{"github-app", "rex"}, {"event", event.dump()}}));
  const auto denied = decide_as(workflow, user("alice", {"team-a"}), policy);
  REQUIRE_FALSE(denied.response.allowed);
  CHECK_THAT(denied.response.message, Catch::Contains("repository myorg/b in namespace team-a"));
  const json ok = workflow_with(params({{"github-app", "rex"}, {"repoFullName", "myorg/a-x"}}));
  CHECK(decide_as(ok, user("alice", {"team-a"}), policy).response.allowed);
  // The Workflow's service account may not submit Workflows itself.
  CHECK_FALSE(decide_as(ok, user("system:serviceaccount:team-a:coderun-workflow"), policy)
                  .response.allowed);
}

TEST_CASE("decision: the run a Workflow creates is checked against the workflowRuns rule",
          "[access][decision]") {
  const auto policy = parse_policy(kTeamAPolicy);
  const auto workflow_sa = user("system:serviceaccount:team-a:coderun-workflow");
  CHECK(decide_as(code_run("myorg/a-x", true), workflow_sa, policy).response.allowed);
  CHECK_FALSE(decide_as(code_run("myorg/a-x", false), workflow_sa, policy).response.allowed);
  CHECK_FALSE(decide_as(code_run("myorg/b", true), workflow_sa, policy).response.allowed);
}

TEST_CASE("decision: audit mode admits, warns and annotates the would-be denial",
          "[access][decision]") {
  auto policy = parse_policy(kTeamAPolicy);
  policy.access->mode = coderun::policy::AccessMode::kAudit;
  const auto alice = user("alice", {"team-b"});
  const json run = code_run("myorg/b", false);
  const auto mutated = decide_as(run, alice, policy, Phase::kMutate, "team-b");
  REQUIRE(mutated.response.allowed);
  // The validating pass sees the run as the mutating pass left it (its schema needs the fills).
  const json stored = run.patch(mutated.response.patch_operations());
  for (const auto phase : {Phase::kMutate, Phase::kValidate}) {
    const auto decision =
        decide_as(phase == Phase::kMutate ? run : stored, alice, policy, phase, "team-b");
    INFO(decision.response.message);
    REQUIRE(decision.response.allowed);
    REQUIRE(decision.access.has_value());
    CHECK(decision.access->mode == "audit");
    CHECK(decision.access->result == "would-deny");
    CHECK(decision.response.audit_annotations.at("access") == "would-deny");
    CHECK_THAT(decision.response.audit_annotations.at("access-reason"),
               Catch::Contains("user alice (groups team-b) may not use github-app rex for "
                               "repository myorg/b in namespace team-b"));
    const auto& warnings = decision.response.warnings;
    CHECK(std::find(warnings.begin(), warnings.end(),
                    "access audit: would deny user alice rex for myorg/b") != warnings.end());
    for (const auto& warning : warnings) CHECK(warning.size() <= coderun::admission::kMaxWarningBytes);
  }
  const auto patch = decide_as(code_run("myorg/b", false), alice, policy).response.patch;
  CHECK_FALSE(patch.empty());  // admitted as before: the token container is still injected
}

TEST_CASE("userInfo is read from the review; the service account from its username",
          "[access][review]") {
  const std::string body = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
    "request":{"uid":"u1","operation":"CREATE","namespace":"team-a",
      "userInfo":{"username":"system:serviceaccount:argo:coderun-workflow","uid":"123",
                  "groups":["system:serviceaccounts","system:serviceaccounts:argo",7]},
      "object":{}}})";
  const auto parsed = coderun::admission::parse_review(body, {});
  REQUIRE(std::holds_alternative<coderun::admission::Request>(parsed));
  const auto& info = std::get<coderun::admission::Request>(parsed).user_info;
  CHECK(info.username == "system:serviceaccount:argo:coderun-workflow");
  CHECK(info.uid == "123");
  CHECK(info.groups == std::vector<std::string>{"system:serviceaccounts",
                                                "system:serviceaccounts:argo"});
  CHECK(info.service_account == "argo:coderun-workflow");
  CHECK(coderun::admission::service_account_of("alice").empty());
  CHECK(coderun::admission::service_account_of("system:serviceaccount:ns").empty());
  CHECK(coderun::admission::service_account_of("system:serviceaccount:ns:a:b").empty());
  CHECK(coderun::admission::service_account_of("system:serviceaccount::a").empty());
}

TEST_CASE("decision: an UPDATE of guarded fields meets the rules as the updater; others do not",
          "[access][decision]") {
  const auto policy = parse_policy(kTeamAPolicy);
  const auto alice = user("alice", {"team-a"});
  const json before = code_run("myorg/a-tools", false);
  const json stored = before.patch(decide_as(before, alice, policy).response.patch_operations());
  // Retargeted at another team's repository: decided as a create, and refused.
  json retargeted = stored;
  retargeted["spec"]["repo"] = "myorg/b";
  auto update = create_request(retargeted);
  update.operation = "UPDATE";
  update.old_object = stored;
  update.namespace_name = "team-a";
  update.user_info = alice;
  const auto denied = decide(update, policy, kPrompts, Phase::kMutate);
  REQUIRE_FALSE(denied.response.allowed);
  CHECK(denied.rule == "access");
  // A label change by someone no rule names (the controller, `argo stop`) is not a new run.
  json relabelled = stored;
  relabelled["metadata"]["labels"]["note"] = "x";
  update.object = relabelled;
  update.user_info = user("system:serviceaccount:argo:argo-controller");
  const auto untouched = decide(update, policy, kPrompts, Phase::kValidate);
  CHECK(untouched.response.allowed);
  CHECK(untouched.outcome == "ignored");
}
