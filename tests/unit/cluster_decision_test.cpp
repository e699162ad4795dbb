// Decisions against the cluster's state of the request's namespace, through a fake ClusterView.
#include <catch2/catch.hpp>

#include "cluster/cluster_state_file.h"
#include "decision/decide.h"
#include "policy/policy.h"
#include "test_support.h"

using coderun::cluster::ClusterView;
using coderun::cluster::NamespaceFacts;
using coderun::decision::decide;
using coderun::decision::Decision;
using coderun::decision::Phase;
using coderun::policy::ClusterChecks;
using coderun::testing::create_request;
using coderun::testing::FakePrompts;
using coderun::testing::params;
using coderun::testing::read_event_fixture;
using coderun::testing::workflow_with;
using nlohmann::json;

namespace {

// The webhook's own files hold every prompt: what the cluster says must make the difference.
const FakePrompts kFilePrompts({"/etc/agents/rex_system-prompt.md",
                                "/etc/agents/default_system-prompt.md"});
const FakePrompts kNoFilePrompts({});

// A view whose synced/stale answers a test sets; facts from a cluster-state document.
class FakeView final : public ClusterView {
 public:
  explicit FakeView(const std::string& objects)
      : snapshot_(coderun::cluster::cluster_state_from_text(objects)) {}
  const NamespaceFacts* find(std::string_view ns) const override { return snapshot_->find(ns); }
  bool synced() const override { return synced_; }
  bool secrets_known() const override { return secrets_known_; }
  std::optional<std::chrono::seconds> stale_for() const override { return stale_for_; }

  bool synced_ = true;
  bool secrets_known_ = true;
  std::optional<std::chrono::seconds> stale_for_;

 private:
  std::shared_ptr<const coderun::cluster::ClusterSnapshot> snapshot_;
};

const char* const kReadyNamespace = R"([
  {kind: Namespace, metadata: {name: argo}},
  {kind: ConfigMap, metadata: {name: controller-agents, namespace: argo}, data: {rex_system-prompt.md: x}},
  {kind: ConfigMap, metadata: {name: mcp-requirements, namespace: argo}, data: {requirements.yaml: x}},
  {kind: Secret, metadata: {name: github-app-rex, namespace: argo}}
])";

coderun::policy::Policy with_checks(std::optional<ClusterChecks> checks) {
  coderun::policy::Policy policy;
  policy.cluster_checks = checks;
  return policy;
}

json rex_workflow() {
  return workflow_with(
      params({{"github-app", "rex"}, {"event", read_event_fixture("pull_request.opened").dump()}}));
}

Decision run(const json& object, const ClusterView* view, std::optional<ClusterChecks> checks,
             const coderun::policy::PromptCatalog& prompts = kFilePrompts) {
  return decide(create_request(object), with_checks(checks), prompts, Phase::kMutate, nullptr,
                view);
}

bool has_warning(const Decision& decision, const std::string& part) {
  for (const auto& warning : decision.response.warnings) {
    if (warning.find(part) != std::string::npos) return true;
  }
  return false;
}

std::map<std::string, std::string> arguments_of(const json& object, const Decision& decision) {
  const json patched = object.patch(decision.response.patch_operations());
  std::map<std::string, std::string> out;
  for (const auto& parameter : patched["spec"]["arguments"]["parameters"]) {
    out[parameter["name"]] = parameter.value("value", "");
  }
  return out;
}

}  // namespace

TEST_CASE("cluster checks: a namespace with prompt, Secret and mcp-requirements is admitted") {
  const FakeView view(kReadyNamespace);
  const auto decision = run(rex_workflow(), &view, ClusterChecks::kEnforce, kNoFilePrompts);
  REQUIRE(decision.response.allowed);
  CHECK(decision.response.warnings.empty());
  CHECK(arguments_of(rex_workflow(), decision).at("systemPromptPath") ==
        "/etc/agents/rex_system-prompt.md");
}

TEST_CASE("cluster checks: enforce denies a prompt missing from the namespace's ConfigMap") {
  const FakeView view(R"([{kind: ConfigMap, metadata: {name: controller-agents, namespace: argo},
                           data: {other.md: x}},
                          {kind: Secret, metadata: {name: github-app-rex, namespace: argo}}])");
  const auto decision = run(rex_workflow(), &view, ClusterChecks::kEnforce);
  CHECK_FALSE(decision.response.allowed);
  CHECK(decision.rule == "system-prompt");
  CHECK(decision.response.message ==
        "Error: System prompt not found at /etc/agents/rex_system-prompt.md or "
        "/etc/agents/default_system-prompt.md (looked in ConfigMap controller-agents, namespace "
        "argo)");

  const FakeView no_map(R"([{kind: Secret, metadata: {name: github-app-rex, namespace: argo}}])");
  CHECK(run(rex_workflow(), &no_map, ClusterChecks::kEnforce).response.message ==
        "Error: System prompt not found at /etc/agents/rex_system-prompt.md or "
        "/etc/agents/default_system-prompt.md (looked in ConfigMap controller-agents, namespace "
        "argo, which has no such ConfigMap)");
}

TEST_CASE("cluster checks: enforce denies a missing token Secret with the command that fixes it") {
  const FakeView view(R"([{kind: ConfigMap, metadata: {name: controller-agents, namespace: argo},
                           data: {default_system-prompt.md: x}}])");
  const auto decision = run(rex_workflow(), &view, ClusterChecks::kEnforce);
  CHECK_FALSE(decision.response.allowed);
  CHECK(decision.rule == "token-secret");
  CHECK(decision.response.message.find("Secret github-app-rex not found in namespace argo") !=
        std::string::npos);
  CHECK(decision.response.message.find(
            "kubectl create secret generic github-app-rex -n argo --from-literal=appId=... "
            "--from-file=privateKey=...") != std::string::npos);
}

TEST_CASE("cluster checks: warn admits and says what is missing") {
  const FakeView view("[]");
  {
    const auto decision = run(rex_workflow(), &view, ClusterChecks::kWarn);
    REQUIRE(decision.response.allowed);
    CHECK(has_warning(decision, "System prompt /etc/agents/rex_system-prompt.md is not in ConfigMap "
                                "controller-agents of namespace argo"));
    CHECK(has_warning(decision, "Secret github-app-rex not found in namespace argo: the token "
                                "cannot be minted"));
    for (const auto& warning : decision.response.warnings) CHECK(warning.size() <= 120);
    CHECK(has_warning(decision, "ConfigMap mcp-requirements not found in namespace argo"));
  }
}

bool has_exact_warning(const Decision& decision, const std::string& text) {
  for (const auto& warning : decision.response.warnings) {
    if (warning == text) return true;
  }
  return false;
}

// README's errors table, each cluster message in full (issue 17: a changed text must fail a test).
TEST_CASE("cluster checks: every documented message, in full") {
  const FakeView no_secret(R"([{kind: ConfigMap, metadata: {name: controller-agents, namespace: argo},
                                data: {default_system-prompt.md: x}}])");
  CHECK(run(rex_workflow(), &no_secret, ClusterChecks::kEnforce).response.message ==
        "Error: Secret github-app-rex not found in namespace argo: the gh-token initContainer reads "
        "the GitHub App's credentials from it. Create it with: kubectl create secret generic "
        "github-app-rex -n argo --from-literal=appId=... --from-file=privateKey=...");

  const FakeView empty_namespace("[]");
  const auto warned = run(rex_workflow(), &empty_namespace, ClusterChecks::kWarn);
  REQUIRE(warned.response.allowed);
  CHECK(has_exact_warning(warned, "System prompt /etc/agents/rex_system-prompt.md is not in ConfigMap "
                                  "controller-agents of namespace argo"));
  CHECK(has_exact_warning(warned, "Secret github-app-rex not found in namespace argo: the token cannot "
                                  "be minted"));
  CHECK(has_exact_warning(warned, "ConfigMap mcp-requirements not found in namespace argo: the agent pod "
                                  "cannot mount it"));

  const FakeView no_key(R"([
    {kind: ConfigMap, metadata: {name: controller-agents, namespace: argo}, data: {rex_system-prompt.md: x}},
    {kind: ConfigMap, metadata: {name: mcp-requirements, namespace: argo}, data: {other.yaml: x}},
    {kind: Secret, metadata: {name: github-app-rex, namespace: argo}}])");
  CHECK(has_exact_warning(run(rex_workflow(), &no_key, ClusterChecks::kEnforce),
                          "ConfigMap mcp-requirements in namespace argo has no requirements.yaml: the "
                          "agent pod cannot mount it"));

  FakeView stale(kReadyNamespace);
  stale.stale_for_ = std::chrono::seconds(42);
  CHECK(has_exact_warning(run(rex_workflow(), &stale, ClusterChecks::kEnforce, kNoFilePrompts),
                          "cluster state is 42 s old (the API server's watch is broken): checked "
                          "against the last known state"));

  FakeView unsynced("[]");
  unsynced.synced_ = false;
  CHECK(has_exact_warning(run(rex_workflow(), &unsynced, ClusterChecks::kEnforce),
                          "cluster state not synced yet: prompt checked against the webhook's files, "
                          "token Secret not checked"));

  FakeView secrets_unknown(R"([{kind: ConfigMap, metadata: {name: controller-agents, namespace: argo},
                               data: {rex_system-prompt.md: x}}])");
  secrets_unknown.secrets_known_ = false;
  CHECK(has_exact_warning(run(rex_workflow(), &secrets_unknown, ClusterChecks::kEnforce),
                          "the token Secret was not checked: the webhook may not list Secrets"));
}

TEST_CASE("cluster checks: off, unset, or no cluster, is the file-based decision of before") {
  const FakeView view("[]");
  const json minimal = workflow_with(params({{"github-app", "rex"}}));
  const std::string annotated = R"([{kind: Namespace, metadata: {name: argo, annotations: {taskmaster.io/repo: a/b}}}])";
  const FakeView annotated_view(annotated);
  for (const auto checks : {std::optional<ClusterChecks>(ClusterChecks::kOff), std::optional<ClusterChecks>()}) {
    const auto decision = run(rex_workflow(), &view, checks);
    REQUIRE(decision.response.allowed);
    CHECK(decision.response.warnings.empty());
    CHECK(run(minimal, &annotated_view, checks).rule == "repository");  // no namespace defaults
  }
  const auto decision = run(rex_workflow(), nullptr, ClusterChecks::kEnforce);
  REQUIRE(decision.response.allowed);
  CHECK(decision.response.warnings.empty());
}

TEST_CASE("cluster checks: mcp-requirements without its key is a warning, not a denial") {
  const FakeView view(R"([
    {kind: ConfigMap, metadata: {name: controller-agents, namespace: argo}, data: {rex_system-prompt.md: x}},
    {kind: ConfigMap, metadata: {name: mcp-requirements, namespace: argo}, data: {other.yaml: x}},
    {kind: Secret, metadata: {name: github-app-rex, namespace: argo}}])");
  const auto decision = run(rex_workflow(), &view, ClusterChecks::kEnforce);
  REQUIRE(decision.response.allowed);
  CHECK(has_warning(decision, "ConfigMap mcp-requirements in namespace argo has no requirements.yaml"));
}

TEST_CASE("cluster checks: a stale state is used, with its age; an unsynced one is not") {
  FakeView view(kReadyNamespace);
  view.stale_for_ = std::chrono::seconds(42);
  auto decision = run(rex_workflow(), &view, ClusterChecks::kEnforce, kNoFilePrompts);
  REQUIRE(decision.response.allowed);
  CHECK(has_warning(decision, "cluster state is 42 s old"));

  FakeView empty("[]");
  empty.synced_ = false;
  decision = run(rex_workflow(), &empty, ClusterChecks::kEnforce);
  REQUIRE(decision.response.allowed);  // the files have the prompt; nothing concluded from absence
  CHECK(has_warning(decision, "cluster state not synced yet"));
}

TEST_CASE("cluster checks: Secrets that may not be listed are not reported missing") {
  FakeView view(R"([{kind: ConfigMap, metadata: {name: controller-agents, namespace: argo},
                     data: {rex_system-prompt.md: x}}])");
  view.secrets_known_ = false;
  const auto decision = run(rex_workflow(), &view, ClusterChecks::kEnforce);
  REQUIRE(decision.response.allowed);
  CHECK(has_warning(decision, "the token Secret was not checked"));
}

TEST_CASE("namespace annotations give repo and ref when neither parameters nor event do") {
  const std::string annotated = std::string(R"([
    {kind: Namespace, metadata: {name: argo, annotations: {taskmaster.io/repo: acme/widgets, taskmaster.io/ref: develop}}},)") +
                                std::string(kReadyNamespace).substr(1);
  const FakeView view(annotated);
  const json minimal = workflow_with(params({{"github-app", "rex"}}));
  const auto decision = run(minimal, &view, ClusterChecks::kEnforce);
  REQUIRE(decision.response.allowed);
  const auto arguments = arguments_of(minimal, decision);
  CHECK(arguments.at("repoFullName") == "acme/widgets");
  CHECK(arguments.at("owner") == "acme");
  CHECK(arguments.at("repo") == "widgets");
  CHECK(arguments.at("ref") == "develop");
  const auto& sources = decision.response.audit_annotations.at("sources");
  CHECK(sources.find("repoFullName=namespace:taskmaster.io/repo") != std::string::npos);
  CHECK(sources.find("owner=namespace:taskmaster.io/repo") != std::string::npos);
  CHECK(sources.find("ref=namespace:taskmaster.io/ref") != std::string::npos);

  // The event wins over the namespace; the namespace's ref is not used for the event's repository.
  const auto with_event = run(rex_workflow(), &view, ClusterChecks::kEnforce);
  REQUIRE(with_event.response.allowed);
  CHECK(arguments_of(rex_workflow(), with_event).at("repoFullName") == "Codertocat/Hello-World");
  CHECK(arguments_of(rex_workflow(), with_event).at("ref") == "changes");

  // A parameter naming another repository: the namespace's ref is not used either.
  const json other = workflow_with(params({{"github-app", "rex"}, {"repoFullName", "x/y"}}));
  const auto given = run(other, &view, ClusterChecks::kEnforce);
  REQUIRE(given.response.allowed);
  CHECK(arguments_of(other, given).at("ref") == "main");

  // Without a cluster the minimal submit is still denied as before.
  CHECK(run(minimal, nullptr, std::nullopt).rule == "repository");
}

TEST_CASE("namespace annotations pass the same safety checks as every value") {
  const std::string annotated = std::string(R"([
    {kind: Namespace, metadata: {name: argo, annotations: {taskmaster.io/repo: "acme/w;rm -rf"}}},)") +
                                std::string(kReadyNamespace).substr(1);
  const FakeView view(annotated);
  const auto decision = run(workflow_with(params({{"github-app", "rex"}})), &view,
                            ClusterChecks::kEnforce);
  CHECK_FALSE(decision.response.allowed);
  CHECK(decision.rule.starts_with("safe-value:"));
  CHECK(decision.response.message.find("(from namespace:taskmaster.io/repo)") != std::string::npos);
}
