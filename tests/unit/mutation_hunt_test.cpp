// Behaviours an independent mutation hunt found unpinned (tests/mutation/mutations.txt, section
// "independent hunt (session 3)"): each assertion is exact, so that a changed bound, a dropped
// case or a reworded documented message fails here by name.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "admission/review.h"
#include "cli/args.h"
#include "cli/flag_spec.h"
#include "cluster/cluster_state.h"
#include "cluster/cluster_state_file.h"
#include "decision/decide.h"
#include "decision/metadata_mutation.h"
#include "decision/pod_spec_patch_reader.h"
#include "github/event_parser.h"
#include "github/event_resolver.h"
#include "github/safe_values.h"
#include "observability/metrics.h"
#include "policy/access_rules.h"
#include "policy/policy.h"
#include "server/http_request_parser.h"
#include "service/admission_events.h"
#include "test_support.h"
#include "util/yaml_json.h"

using coderun::decision::decide;
using coderun::decision::Decision;
using coderun::decision::Phase;
using coderun::github::resolve_event;
using coderun::testing::create_request;
using coderun::testing::FakePrompts;
using coderun::testing::params;
using coderun::testing::read_event_fixture;
using coderun::testing::workflow_with;
using nlohmann::json;

namespace {

const coderun::policy::Policy kPolicy{};
const FakePrompts kPrompts({"/etc/agents/rex_system-prompt.md",
                            "/etc/agents/default_system-prompt.md"});

Decision mutate(const json& object, const coderun::policy::Policy& policy = kPolicy) {
  return decide(create_request(object), policy, kPrompts, Phase::kMutate);
}

json applied(const json& object, const Decision& decision) {
  return decision.response.patch.empty() ? object
                                         : object.patch(decision.response.patch_operations());
}

bool has_exact_warning(const Decision& decision, const std::string& text) {
  for (const auto& warning : decision.resolution.warnings) {
    if (warning == text) return true;
  }
  return false;
}

json code_run(const json& spec) {
  return {{"apiVersion", "taskmaster.io/v1"},
          {"kind", "CodeRun"},
          {"metadata", {{"name", "run-1"}, {"namespace", "argo"}}},
          {"spec", spec}};
}

// The same view as cluster_decision_test.cpp's: facts from a cluster-state document.
class FakeView final : public coderun::cluster::ClusterView {
 public:
  explicit FakeView(const std::string& objects)
      : snapshot_(coderun::cluster::cluster_state_from_text(objects)) {}
  const coderun::cluster::NamespaceFacts* find(std::string_view ns) const override {
    return snapshot_->find(ns);
  }
  bool synced() const override { return true; }
  bool secrets_known() const override { return true; }
  std::optional<std::chrono::seconds> stale_for() const override { return std::nullopt; }

 private:
  std::shared_ptr<const coderun::cluster::ClusterSnapshot> snapshot_;
};

std::string usage_error(const std::string& command, const std::vector<std::string>& words) {
  try {
    const coderun::cli::Args args(*coderun::cli::find_command(command), words);
  } catch (const coderun::cli::UsageError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// ---- the resolver

TEST_CASE("hunt: a workflow run whose head is in a fork uses refs/pull/N/head, also once parsed") {
  auto event = read_event_fixture("workflow_run.completed.with-pull-requests");
  event["workflow_run"]["head_repository"]["full_name"] = "forker/octo-repo";
  for (const auto& context :
       {resolve_event(event),
        resolve_event(coderun::github::parse_event_argument(event.dump(), {}).body)}) {
    REQUIRE(context.ref);
    CHECK(context.ref->value == "refs/pull/2/head");
    CHECK(context.ref->source == "refs/pull/{.workflow_run.pull_requests[0].number}/head");
    REQUIRE(context.head_repo_full_name);
    CHECK(context.head_repo_full_name->value == "forker/octo-repo");
  }
  // Its head in the base repository: the head branch.
  const auto own = resolve_event(read_event_fixture("workflow_run.completed.with-pull-requests"));
  CHECK(own.ref->source == ".workflow_run.head_branch");
  CHECK_FALSE(own.head_repo_full_name);
}

TEST_CASE("hunt: a check run without its suite's head branch uses its pull request's head") {
  auto event = read_event_fixture("check_run.completed");
  event["check_run"]["check_suite"].erase("head_branch");
  const auto context = resolve_event(event);
  REQUIRE(context.ref);
  CHECK(context.ref->value == "refs/pull/2/head");
  CHECK(context.ref->source == "refs/pull/{.check_run.pull_requests[0].number}/head");
}

TEST_CASE("hunt: the first of .pull_requests gives the PR number, not any other") {
  auto event = read_event_fixture("workflow_run.completed.with-pull-requests");
  event["workflow_run"]["pull_requests"].push_back({{"number", 9}});
  const auto context = resolve_event(event);
  REQUIRE(context.pr_number);
  CHECK(context.pr_number->value == "2");
  CHECK(context.pr_number->source == ".workflow_run.pull_requests[0].number");
}

TEST_CASE("hunt: an event of exactly event.maxBytes is read, one byte more is ignored") {
  using coderun::github::parse_event_argument;
  const auto text = [](size_t size) {  // {"ref":"aaa..."}
    return R"({"ref":")" + std::string(size - 10, 'a') + R"("})";
  };
  REQUIRE(text(1024).size() == 1024);
  const auto at_limit = parse_event_argument(text(1024), {1024, 64});
  CHECK_FALSE(at_limit.problem);
  CHECK(at_limit.body["ref"] == std::string(1014, 'a'));
  const auto over = parse_event_argument(text(1025), {1024, 64});
  CHECK(over.problem == "event is 1025 bytes, more than the limit of 1024; ignored");
  CHECK(over.body.empty());
}

// ---- values and their messages

TEST_CASE("hunt: control characters quoted in a denial are shown as \\xNN, DEL included") {
  for (const auto& [ref, shown] : std::vector<std::pair<std::string, std::string>>{
           {"a\x7f" "b", "a\\x7fb"}, {"a\x1b" "b", "a\\x1bb"}, {"a\x01" "b", "a\\x01b"}}) {
    CAPTURE(shown);
    const auto decision = mutate(
        workflow_with(params({{"github-app", "rex"}, {"repoFullName", "a/b"}, {"ref", ref}})));
    CHECK(decision.response.message ==
          "Error: Invalid ref '" + shown + "' (from parameter): contains a control character");
  }
}

TEST_CASE("hunt: the event about another repository: the warning, word for word") {
  const auto decision = mutate(workflow_with(
      params({{"github-app", "rex"},
              {"event", read_event_fixture("pull_request.opened").dump()},
              {"repoFullName", "octo/other"}})));
  REQUIRE(decision.response.allowed);
  CHECK(has_exact_warning(decision,
                          "the event is about 'Codertocat/Hello-World', not 'octo/other': its "
                          "ref, sha and numbers are not used"));
}

TEST_CASE("hunt: path denials, word for word") {
  auto decision = mutate(workflow_with(
      params({{"github-app", "rex"}, {"repoFullName", "a/b"}, {"taskRef", "../x"}})));
  CHECK(decision.response.message == "Error: Invalid taskRef '../x': contains a '..' component");
  decision = mutate(workflow_with(
      params({{"github-app", "rex"}, {"repoFullName", "a/b"}, {"systemPromptPath", "/etc/passwd"}})));
  CHECK(decision.response.message ==
        "Error: Invalid systemPromptPath '/etc/passwd': is not inside /etc/agents");
}

TEST_CASE("hunt: owner derived from the event's full name says so in its source") {
  const json event = {{"repository", {{"full_name", "acme/tools"}}}};
  const auto decision = mutate(workflow_with(params({{"github-app", "rex"}, {"event", event.dump()}})));
  REQUIRE(decision.response.allowed);
  REQUIRE(decision.resolution.find("owner"));
  CHECK(decision.resolution.find("owner")->value == "acme");
  CHECK(decision.resolution.find("owner")->source == "event:.repository.full_name:repoFullName");
  CHECK(decision.resolution.find("repo")->source == "event:.repository.full_name:repoFullName");
}

TEST_CASE("hunt: a 64-digit (SHA-256) commit hash is accepted, other lengths are not") {
  using coderun::github::check_sha;
  CHECK_FALSE(check_sha(std::string(64, 'a')));
  CHECK_FALSE(check_sha(std::string(40, 'f')));
  for (const size_t size : {39u, 41u, 63u, 65u}) {
    CAPTURE(size);
    CHECK(check_sha(std::string(size, 'a')) == "is not a 40 or 64 digit commit hash");
  }
  const auto decision = mutate(workflow_with(
      params({{"github-app", "rex"}, {"repoFullName", "a/b"}, {"sha", std::string(64, 'c')}})));
  CHECK(decision.response.allowed);
}

TEST_CASE("hunt: repoFullName's reasons name the part that is wrong") {
  using coderun::github::check_repo_full_name;
  CHECK(check_repo_full_name("a--b/c") == "owner contains '--'");
  CHECK(check_repo_full_name("ok/..") == "repository name is '.' or '..'");
  CHECK(check_repo_full_name("ok") == "is not of the form owner/repo");
}

// ---- cluster checks and the namespace's repository

TEST_CASE("hunt: namespace annotations fill nothing once the user names part of the repository") {
  const FakeView view(R"([
    {kind: Namespace, metadata: {name: argo, annotations: {taskmaster.io/repo: acme/widgets}}},
    {kind: ConfigMap, metadata: {name: controller-agents, namespace: argo}, data: {rex_system-prompt.md: x}},
    {kind: ConfigMap, metadata: {name: mcp-requirements, namespace: argo}, data: {requirements.yaml: x}},
    {kind: Secret, metadata: {name: github-app-rex, namespace: argo}}
  ])");
  coderun::policy::Policy policy;
  policy.cluster_checks = coderun::policy::ClusterChecks::kEnforce;
  for (const char* field : {"owner", "repo"}) {
    CAPTURE(field);
    const json workflow = workflow_with(params({{"github-app", "rex"}, {field, "gadgets"}}));
    const auto decision =
        decide(create_request(workflow), policy, kPrompts, Phase::kMutate, nullptr, &view);
    CHECK(decision.rule == "repository");
  }
  // A given systemPromptPath the namespace lacks: where it was looked for.
  const json workflow = workflow_with(params(
      {{"github-app", "rex"}, {"systemPromptPath", "/etc/agents/default_system-prompt.md"}}));
  const auto decision =
      decide(create_request(workflow), policy, kPrompts, Phase::kMutate, nullptr, &view);
  CHECK(decision.response.message ==
        "Error: System prompt not found at /etc/agents/default_system-prompt.md (looked in "
        "ConfigMap controller-agents, namespace argo)");
}

// ---- audit annotations and documented messages of decide()

TEST_CASE("hunt: audit annotations of a denial and of the validating pass, exactly") {
  const auto denied = mutate(workflow_with(params({{"github-app", "nope"}, {"repoFullName", "a/b"}})));
  CHECK(denied.response.audit_annotations ==
        std::map<std::string, std::string>{
            {"decision", "denied"}, {"rule", "github-app"}, {"github-app", "nope"}});
  const json workflow = workflow_with(params({{"github-app", "rex"}, {"repoFullName", "a/b"}}));
  const auto stored = applied(workflow, mutate(workflow));
  const auto validated = decide(create_request(stored), kPolicy, kPrompts, Phase::kValidate);
  REQUIRE(validated.response.allowed);
  CHECK(validated.response.audit_annotations.at("decision") == "allowed");
  CHECK(validated.response.audit_annotations.at("github-app") == "rex");
  CHECK(validated.response.audit_annotations.at("repo") == "a/b");
}

TEST_CASE("hunt: the token-secret denial, word for word") {
  json run = code_run({{"repo", "octo/hello"},
                       {"github", {{"appName", "clippy"}}},
                       {"taskRef", "task/x"},
                       {"volumes", json::parse(R"([{"name": "v", "secret": {"secretName": "github-app-rex"}}])")}});
  const FakePrompts prompts({"/etc/agents/clippy_system-prompt.md"});
  const auto decision = decide(create_request(run), kPolicy, prompts, Phase::kMutate);
  CHECK(decision.response.message ==
        "Error: the CodeRun reads Secret github-app-rex, the token of another app than its "
        "github-app 'clippy': a run may mint only its own app's token (remove that reference; the "
        "webhook adds the gh-token initContainer for 'clippy')");
  // A Secret the pattern would give an empty app name is no app's token.
  run["spec"]["volumes"][0]["secret"]["secretName"] = "github-app-";
  CHECK(decide(create_request(run), kPolicy, prompts, Phase::kMutate).response.allowed);
}

TEST_CASE("hunt: request.object over the value budget is a 413 naming the reason") {
  auto request = create_request(workflow_with(params({{"github-app", "rex"}})));
  request.object.reset();
  request.object_problem = "request.object is too large to decide on";
  const auto decision = decide(request, kPolicy, kPrompts, Phase::kMutate);
  CHECK_FALSE(decision.response.allowed);
  CHECK(decision.response.code == 413);
  CHECK(decision.response.message == "Error: request.object is too large to decide on");
  request.object_problem.clear();
  CHECK(decide(request, kPolicy, kPrompts, Phase::kMutate).response.code == 400);
}

// ---- access rules

TEST_CASE("hunt: access globs: '?' never crosses '/', case folds A to Z") {
  using coderun::policy::glob_match;
  CHECK_FALSE(glob_match("a?b", "a/b", false));
  CHECK(glob_match("a?b", "a-b", false));
  CHECK(glob_match("zoo/zed", "ZOO/ZED", true));
  CHECK(glob_match("ZOO/*", "zoo/x", true));
  CHECK(glob_match("myorg/a-z", "MyOrg/A-Z", true));
  CHECK_FALSE(glob_match("zoo", "ZOO", false));
}

TEST_CASE("hunt: access denials name unnamed rules by index and an unknown ref as such") {
  using namespace coderun::policy;
  AccessPolicy access;
  AccessRule other;
  other.users = {"bob"};
  other.apps = {"rex"};
  other.repositories = {"myorg/*"};
  AccessRule refs_only;
  refs_only.users = {"alice"};
  refs_only.apps = {"rex"};
  refs_only.repositories = {"myorg/*"};
  refs_only.refs = {"main"};
  access.rules = {other, refs_only};
  coderun::admission::UserInfo alice;
  alice.username = "alice";
  const AccessRequest at_main{alice, "team-a", "rex", "myorg/x", "main"};
  const auto allowed = check_access(access, at_main);
  CHECK(allowed.allowed);
  CHECK(allowed.rule == "rules[1]");
  const AccessRequest unknown_ref{alice, "team-a", "rex", "myorg/x", ""};
  const auto denied = check_access(access, unknown_ref);
  CHECK_FALSE(denied.allowed);
  CHECK(denied.message ==
        "Error: user alice may not use github-app rex for repository myorg/x in namespace team-a: "
        "no rule in the policy's access.rules allows it; rule rules[1] allows it at refs main "
        "only, not at an unknown ref");
}

TEST_CASE("hunt: a ref pattern, even '*', never matches an unknown ref") {
  using namespace coderun::policy;
  AccessPolicy access;
  AccessRule any_ref;
  any_ref.users = {"alice"};
  any_ref.apps = {"rex"};
  any_ref.repositories = {"myorg/*"};
  any_ref.refs = {"*"};
  access.rules = {any_ref};
  coderun::admission::UserInfo alice;
  alice.username = "alice";
  CHECK(check_access(access, AccessRequest{alice, "team-a", "rex", "myorg/x", "main"}).allowed);
  const auto denied = check_access(access, AccessRequest{alice, "team-a", "rex", "myorg/x", ""});
  CHECK_FALSE(denied.allowed);
  CHECK(denied.message ==
        "Error: user alice may not use github-app rex for repository myorg/x in namespace team-a: "
        "no rule in the policy's access.rules allows it; rule rules[0] allows it at refs * "
        "only, not at an unknown ref");
}

TEST_CASE("hunt: an empty taskmaster.io/workflow label is no Workflow's") {
  const auto policy = coderun::policy::parse_policy(R"(
access:
  rules:
    - name: runs
      subjects: {serviceAccounts: ["team-a:coderun-workflow"]}
      apps: [rex]
      repositories: ["myorg/*"]
      workflowRuns: true
)");
  json run = code_run({{"repo", "myorg/x"}, {"github", {{"appName", "rex"}}}, {"taskRef", "task/x"}});
  auto request = create_request(run);
  request.user_info.username = "system:serviceaccount:team-a:coderun-workflow";
  request.user_info.service_account = "team-a:coderun-workflow";
  request.object->at("metadata")["labels"] = {{"taskmaster.io/workflow", "wf-1"}};
  CHECK(decide(request, policy, kPrompts, Phase::kMutate).response.allowed);
  request.object->at("metadata")["labels"] = {{"taskmaster.io/workflow", ""}};
  const auto decision = decide(request, policy, kPrompts, Phase::kMutate);
  CHECK_FALSE(decision.response.allowed);
  CHECK(decision.rule == "access");
}

// ---- the policy file: every key is read

TEST_CASE("hunt: every policy key is read, none left at its default") {
  const auto policy = coderun::policy::parse_policy(R"(
allowedApps: [rex]
promptsDir: /prompts
workflowTemplates: [my-template]
defaultRef: trunk
clusterChecks: warn
event: {maxBytes: 4096, maxDepth: 9}
token:
  image: example/token:1
  containerName: mint
  secretNamePattern: "app-{app}-creds"
  appIdKey: id
  privateKeyKey: pem
volumes:
  workspace: {name: ws, mountPath: /w}
  agents: {name: ag, configMap: agents-cm, mountPath: /a}
  mcpRequirements: {name: mcp, configMap: mcp-cm, key: r.yaml, mountPath: /m/r.yaml}
  token: {name: tok, mountPath: /t}
)");
  CHECK(policy.allowed_apps_text() == "rex");
  CHECK(policy.prompts_dir == "/prompts");
  CHECK(policy.workflow_templates == std::vector<std::string>{"my-template"});
  CHECK(policy.default_ref == "trunk");
  CHECK(policy.cluster_checks == coderun::policy::ClusterChecks::kWarn);
  CHECK(policy.event_max_bytes == 4096u);
  CHECK(policy.event_max_depth == 9u);
  CHECK(policy.token.image == "example/token:1");
  CHECK(policy.token.container_name == "mint");
  CHECK(policy.token.secret_name("rex") == "app-rex-creds");
  CHECK(policy.token.app_id_key == "id");
  CHECK(policy.token.private_key_key == "pem");
  CHECK(policy.workspace.name == "ws");
  CHECK(policy.workspace.mount_path == "/w");
  CHECK(policy.agents.name == "ag");
  CHECK(policy.agents.config_map == "agents-cm");
  CHECK(policy.agents.mount_path == "/a");
  CHECK(policy.mcp_requirements.name == "mcp");
  CHECK(policy.mcp_requirements.config_map == "mcp-cm");
  CHECK(policy.mcp_requirements.key == "r.yaml");
  CHECK(policy.mcp_requirements.mount_path == "/m/r.yaml");
  CHECK(policy.token_volume.name == "tok");
  CHECK(policy.token_volume.mount_path == "/t");
  CHECK(coderun::policy::parse_policy("clusterChecks: enforce").cluster_checks ==
        coderun::policy::ClusterChecks::kEnforce);
  CHECK(coderun::policy::parse_policy("clusterChecks: 'off'").cluster_checks ==
        coderun::policy::ClusterChecks::kOff);
}

// ---- labels

TEST_CASE("hunt: label values are cut at 63 characters and end alphanumeric") {
  using coderun::decision::label_safe;
  CHECK(label_safe(std::string(70, 'a')) == std::string(63, 'a'));
  CHECK(label_safe(std::string(62, 'a') + "-bc") == std::string(62, 'a'));
  CHECK(label_safe(std::string(61, 'a') + "..b") == std::string(61, 'a'));
  CHECK(label_safe("-x-") == "x");
  CHECK(label_safe("octo/hello") == "octo.hello");
  // As written on a run: owner.repo, at most 63.
  const std::string repo(100, 'r');
  const json workflow = workflow_with(params({{"github-app", "rex"}, {"repoFullName", "o/" + repo}}));
  const json result = applied(workflow, mutate(workflow));
  CHECK(result["metadata"]["labels"]["taskmaster.io/repo"] == "o." + std::string(61, 'r'));
}

// ---- the Workflow's podSpecPatch and its limits

TEST_CASE("hunt: an empty podSpecPatch is filled like an absent one") {
  coderun::policy::Policy policy;
  policy.workflow_plumbing = coderun::policy::WorkflowPlumbing::kPodSpecPatch;
  json workflow = workflow_with(params({{"github-app", "rex"}, {"repoFullName", "a/b"}}));
  const json absent = applied(workflow, mutate(workflow, policy));
  workflow["spec"]["podSpecPatch"] = "";
  const auto decision = mutate(workflow, policy);
  REQUIRE(decision.response.allowed);
  const json result = applied(workflow, decision);
  CHECK(json::parse(result["spec"]["podSpecPatch"].get<std::string>()) ==
        json::parse(absent["spec"]["podSpecPatch"].get<std::string>()));
}

TEST_CASE("hunt: the mounts go to Argo's container 'main', added beside the user's own containers") {
  coderun::policy::Policy policy;
  policy.workflow_plumbing = coderun::policy::WorkflowPlumbing::kPodSpecPatch;
  json workflow = workflow_with(params({{"github-app", "rex"}, {"repoFullName", "a/b"}}));
  const json absent = json::parse(
      applied(workflow, mutate(workflow, policy))["spec"]["podSpecPatch"].get<std::string>());
  REQUIRE(absent["containers"].size() == 1);
  CHECK(absent["containers"][0]["name"] == "main");  // Argo names a template's container main
  REQUIRE(absent["containers"][0]["volumeMounts"].is_array());
  CHECK_FALSE(absent["containers"][0]["volumeMounts"].empty());
  const json sidecar = {{"name", "sidecar"}, {"image", "busybox"}};
  workflow["spec"]["podSpecPatch"] = json{{"containers", json::array({sidecar})}}.dump();
  const auto decision = mutate(workflow, policy);
  REQUIRE(decision.response.allowed);
  const json patch =
      json::parse(applied(workflow, decision)["spec"]["podSpecPatch"].get<std::string>());
  CHECK(patch["containers"] == json::array({sidecar, absent["containers"][0]}));
}

TEST_CASE("hunt: YAML depth and value limits hold at the limit and refuse one past it") {
  coderun::util::YamlLimits limits;
  limits.max_depth = 4;
  limits.max_nodes = 5;
  CHECK(coderun::util::parse_yaml("[[[[1]]]]", limits).value);
  const auto deep = coderun::util::parse_yaml("[[[[[1]]]]]", limits);
  CHECK_FALSE(deep.value);
  CHECK_THAT(deep.error, Catch::StartsWith("YAML nested more than 4 levels deep"));
  CHECK(coderun::util::parse_yaml("[1, 2, 3, 4]", limits).value);  // 5 values with the list
  const auto many = coderun::util::parse_yaml("[1, 2, 3, 4, 5]", limits);
  CHECK_FALSE(many.value);
  CHECK_THAT(many.error, Catch::StartsWith("more than 5 YAML values"));
}

TEST_CASE("hunt: a podSpecPatch of exactly 256 KiB and 20000 values is read, one more is not") {
  using coderun::decision::read_pod_spec_patch;
  const std::string head = "a: 1\nb: ";
  std::string at_limit = head + std::string(256 * 1024 - head.size() - 1, 'x') + "\n";
  REQUIRE(at_limit.size() == 256 * 1024);
  CHECK(read_pod_spec_patch(at_limit).value);
  const auto over = read_pod_spec_patch(at_limit + "#");
  CHECK_FALSE(over.value);
  CHECK(over.problem ==
        "is 262145 bytes; the webhook merges into podSpecPatches of at most 256 KiB");
  // 20000 values: the mapping, its key, the sequence and 19997 items.
  const auto values = [](int items, bool json_text) {
    std::string text = json_text ? "{\"a\": [" : "a: [";
    for (int i = 0; i < items; ++i) text += i ? ",1" : "1";
    return text + (json_text ? "]}" : "]");
  };
  CHECK(read_pod_spec_patch(values(19'997, false)).value);
  CHECK_FALSE(read_pod_spec_patch(values(19'998, false)).value);
}

TEST_CASE("hunt: a JSON podSpecPatch nested 64 levels is read, 65 is not") {
  using coderun::decision::read_pod_spec_patch;
  const auto nested = [](int levels) {  // {"a": {"a": ... {} ...}}: `levels` objects
    std::string text;
    for (int i = 1; i < levels; ++i) text += "{\"a\": ";
    text += "{}";
    for (int i = 1; i < levels; ++i) text += "}";
    return text;
  };
  CHECK(read_pod_spec_patch(nested(64)).value);
  CHECK_FALSE(read_pod_spec_patch(nested(65)).value);
}

// ---- transport

TEST_CASE("hunt: exactly max_headers header fields are read, one more is a 431") {
  coderun::server::HttpLimits limits;
  limits.max_headers = 4;
  const std::string four = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
  coderun::server::HttpRequestParser at_limit(limits);
  CHECK(at_limit.parse(four) == coderun::server::HttpRequestParser::Status::kComplete);
  const std::string five = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
  coderun::server::HttpRequestParser over(limits);
  REQUIRE(over.parse(five) == coderun::server::HttpRequestParser::Status::kError);
  CHECK(over.error().status == 431);
}

TEST_CASE("hunt: exactly max_headers trailer fields are read") {
  coderun::server::HttpLimits limits;
  limits.max_headers = 4;
  std::string request =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n";
  for (int i = 0; i < 4; ++i) request += "T" + std::to_string(i) + ": v\r\n";
  coderun::server::HttpRequestParser parser(limits);
  CHECK(parser.parse(request + "\r\n") == coderun::server::HttpRequestParser::Status::kComplete);
}

// ---- the command line

TEST_CASE("hunt: --shutdown-delay takes 0 to 3600, --max-buffered-bytes up to 64 GiB") {
  CHECK(usage_error("serve", {"--shutdown-delay", "3600"}).empty());
  CHECK(usage_error("serve", {"--shutdown-delay", "0"}).empty());
  CHECK(usage_error("serve", {"--shutdown-delay", "3601"}) ==
        "--shutdown-delay must be an integer from 0 to 3600, not '3601'");
  CHECK(usage_error("serve", {"--max-buffered-bytes", "68719476736"}).empty());
  CHECK(usage_error("serve", {"--max-buffered-bytes", "68719476737"}) ==
        "--max-buffered-bytes must be an integer from 1 to 68719476736, not '68719476737'");
}

// ---- metrics: every name README documents, with its labels

TEST_CASE("hunt: every documented metric renders under its documented name and labels") {
  coderun::observability::Metrics metrics;
  metrics.bad_request("mutate", 413);
  metrics.access_decision("audit", "would-deny");
  metrics.connections(+1);
  metrics.connection_dropped("budget");
  metrics.tls_handshake_failed();
  metrics.certificate_reload("success");
  metrics.cluster_state(42, 7, true);
  metrics.cluster_watch_restart("expired");
  const std::string text = metrics.render();
  for (const char* line :
       {"coderun_webhook_bad_requests_total{code=\"413\",endpoint=\"mutate\"} 1",
        "coderun_webhook_access_decisions_total{mode=\"audit\",result=\"would-deny\"} 1",
        "coderun_webhook_connections 1",
        "coderun_webhook_connections_dropped_total{reason=\"budget\"} 1",
        "coderun_webhook_connections_dropped_total{reason=\"timeout\"} 0",
        "coderun_webhook_connections_dropped_total{reason=\"limit\"} 0",
        "coderun_webhook_tls_handshake_failures_total 1",
        "coderun_webhook_certificate_reloads_total{result=\"success\"} 1",
        "coderun_webhook_certificate_reloads_total{result=\"rejected\"} 0",
        "coderun_webhook_policy_reloads_total{result=\"success\"} 0",
        "coderun_webhook_cluster_state_age_seconds 42",
        "coderun_webhook_cluster_state_objects 7",
        "coderun_webhook_cluster_state_synced 1",
        "coderun_webhook_cluster_watch_restarts_total{reason=\"expired\"} 1",
        "coderun_webhook_cluster_watch_restarts_total{reason=\"error\"} 0",
        "coderun_webhook_kube_events_total{outcome=\"posted\"} 0",
        "coderun_webhook_kube_events_total{outcome=\"failed\"} 0",
        "coderun_webhook_kube_events_total{outcome=\"unstored\"} 0",
        "coderun_webhook_kube_events_total{outcome=\"throttled\"} 0"}) {
    CAPTURE(line);
    CHECK(text.find(std::string("\n") + line + "\n") != std::string::npos);
  }
  metrics.cluster_state(0, 0, false);
  CHECK_THAT(metrics.render(), Catch::Contains("\ncoderun_webhook_cluster_state_synced 0\n"));
}

// ---- UPDATE: every part of a run's spec the webhook checks is guarded

TEST_CASE("hunt: an update of a DocsRun's docs.path or a CodeRun's volumes is decided, not waved through") {
  const auto stored_of = [](const json& run) {
    const auto created = mutate(run);
    REQUIRE(created.response.allowed);
    return applied(run, created);
  };
  const auto update = [](const json& before, const json& after) {
    auto request = create_request(after);
    request.operation = "UPDATE";
    request.old_object = before;
    return decide(request, kPolicy, kPrompts, Phase::kValidate);
  };
  json docs = code_run({{"repo", "a/b"}, {"github", {{"appName", "rex"}}}});
  docs["kind"] = "DocsRun";
  const json stored_docs = stored_of(docs);
  json traversal = stored_docs;
  traversal["spec"]["docs"]["path"] = "../secrets";
  const auto refused = update(stored_docs, traversal);
  CHECK(refused.rule == "safe-value:docs.path");
  CHECK(refused.response.message ==
        "Error: Invalid docs.path '../secrets': contains a '..' component");

  const json stored_run = stored_of(code_run({{"repo", "a/b"}, {"github", {{"appName", "rex"}}}}));
  json foreign = stored_run;
  foreign["spec"]["volumes"].push_back(
      {{"name", "v"}, {"secret", {{"secretName", "github-app-clippy"}}}});
  CHECK(update(stored_run, foreign).rule == "token-secret");
}

// ---- what goes back to the API server: warnings and the review's nesting

TEST_CASE("hunt: a warning of exactly 120 bytes is sent whole; DEL and control bytes become '?'") {
  using coderun::admission::bounded_warnings;
  CHECK(bounded_warnings({std::string(120, 'a')}) == std::vector<std::string>{std::string(120, 'a')});
  CHECK(bounded_warnings({std::string(121, 'a')}) ==
        std::vector<std::string>{std::string(117, 'a') + "..."});
  CHECK(bounded_warnings({"a\x7f" "b\x01" "c\x1f"}) == std::vector<std::string>{"a?b?c?"});
}

TEST_CASE("hunt: a review nested 128 levels deep is read, 129 is not") {
  const auto review = [](int levels) {  // the review object itself is the first level
    std::string deep;
    for (int i = 1; i < levels; ++i) deep += "[";
    for (int i = 1; i < levels; ++i) deep += "]";
    return R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","x":)" + deep +
           R"(,"request":{"uid":"u","operation":"CREATE","kind":{"group":"argoproj.io","version":"v1alpha1","kind":"Workflow"}}})";
  };
  const coderun::admission::ReviewLimits limits;
  CHECK(std::holds_alternative<coderun::admission::Request>(
      coderun::admission::parse_review(review(128), limits)));
  CHECK(std::holds_alternative<coderun::admission::ReviewError>(
      coderun::admission::parse_review(review(129), limits)));
}

// ---- Kubernetes Events: which, of what type, and when

TEST_CASE("hunt: Events: an allowed update posts none, a refused one Denied; audit and parse Events are warnings") {
  using coderun::service::events_for;
  json workflow = workflow_with(params({{"github-app", "rex"}, {"repoFullName", "a/b"}, {"event", "{oops"}}));
  workflow["metadata"]["name"] = "coderun-abcde";
  const json stored = applied(workflow, mutate(workflow));
  const auto validated = decide(create_request(stored), kPolicy, kPrompts, Phase::kValidate);
  const auto created = events_for(create_request(stored), validated, Phase::kValidate);
  REQUIRE(created.size() == 2);
  CHECK(created[0].reason == "EventParseFailed");
  CHECK(created[0].type == "Warning");
  CHECK(created[0].action == "Admit");

  // Updates of a run admitted with a usable event.
  json clean = workflow_with(params({{"github-app", "rex"}, {"repoFullName", "a/b"}}));
  clean["metadata"]["name"] = "coderun-fghij";
  const json clean_stored = applied(clean, mutate(clean));
  json changed = clean_stored;
  for (auto& parameter : changed["spec"]["arguments"]["parameters"])
    if (parameter["name"] == "ref") parameter["value"] = "release";
  auto update = create_request(changed);
  update.operation = "UPDATE";
  update.old_object = clean_stored;
  const auto allowed = decide(update, kPolicy, kPrompts, Phase::kValidate);
  REQUIRE(allowed.response.allowed);
  CHECK(events_for(update, allowed, Phase::kValidate).empty());
  for (auto& parameter : changed["spec"]["arguments"]["parameters"])
    if (parameter["name"] == "ref") parameter["value"] = "a..b";
  update.object = changed;
  const auto refused = decide(update, kPolicy, kPrompts, Phase::kValidate);
  REQUIRE_FALSE(refused.response.allowed);
  const auto denied = events_for(update, refused, Phase::kValidate);
  REQUIRE(denied.size() == 1);
  CHECK(denied[0].reason == "Denied");

  // A refused update of the run whose event does not parse: Denied alone, EventParseFailed was
  // posted at create and the event cannot have changed since.
  json broken_changed = stored;
  for (auto& parameter : broken_changed["spec"]["arguments"]["parameters"])
    if (parameter["name"] == "ref") parameter["value"] = "a..b";
  auto broken_update = create_request(broken_changed);
  broken_update.operation = "UPDATE";
  broken_update.old_object = stored;
  const auto broken_refused = decide(broken_update, kPolicy, kPrompts, Phase::kValidate);
  REQUIRE_FALSE(broken_refused.response.allowed);
  REQUIRE(broken_refused.resolution.event_problem);
  const auto broken_denied = events_for(broken_update, broken_refused, Phase::kValidate);
  REQUIRE(broken_denied.size() == 1);
  CHECK(broken_denied[0].reason == "Denied");

  // Audit mode: the would-be denial is a Warning Event of its own, on the validating pass.
  auto policy = coderun::policy::parse_policy(R"(
access:
  mode: audit
  rules:
    - subjects: {users: [bob]}
      apps: [rex]
      repositories: ["a/*"]
)");
  auto as_alice = create_request(stored);
  as_alice.user_info.username = "alice";
  const auto audited = decide(as_alice, policy, kPrompts, Phase::kValidate);
  REQUIRE(audited.response.allowed);
  const auto events = events_for(as_alice, audited, Phase::kValidate);
  REQUIRE(events.size() == 3);
  CHECK(events[1].reason == "AccessAudit");
  CHECK(events[1].type == "Warning");
  CHECK(events[1].note ==
        "Error: user alice may not use github-app rex for repository a/b in namespace argo: no "
        "rule in the policy's access.rules allows it");
}

// ---- the cluster state: a prompt may sit in a ConfigMap's binaryData

TEST_CASE("hunt: ConfigMap keys come from data and binaryData, watched or from a file") {
  using coderun::cluster::ClusterState;
  using coderun::cluster::WatchedQuery;
  const WatchedQuery agents{coderun::cluster::Kind::kConfigMap, "controller-agents"};
  ClusterState state({agents});
  state.replace(agents, {{"items",
                          {{{"metadata", {{"name", "controller-agents"}, {"namespace", "team-a"}}},
                            {"data", {{"a.md", "x"}}},
                            {"binaryData", {{"rex_system-prompt.md", "eA=="}}}}}}});
  const auto snapshot = state.snapshot();
  REQUIRE(snapshot->find("team-a"));
  CHECK(snapshot->find("team-a")->config_map_keys.at("controller-agents") ==
        std::set<std::string, std::less<>>{"a.md", "rex_system-prompt.md"});
  const auto from_file = coderun::cluster::cluster_state_from_text(R"([
    {kind: ConfigMap, metadata: {name: controller-agents, namespace: team-a},
     data: {a.md: x}, binaryData: {rex_system-prompt.md: eA==}}])");
  REQUIRE(from_file->find("team-a"));
  CHECK(from_file->find("team-a")->config_map_keys.at("controller-agents") ==
        std::set<std::string, std::less<>>{"a.md", "rex_system-prompt.md"});
}

// ---- README's podSpecPatch refusal, word for word

TEST_CASE("hunt: a YAML alias in a podSpecPatch is refused with README's message") {
  coderun::policy::Policy policy;
  policy.workflow_plumbing = coderun::policy::WorkflowPlumbing::kPodSpecPatch;
  json workflow = workflow_with(params({{"github-app", "rex"}, {"repoFullName", "a/b"}}));
  workflow["spec"]["podSpecPatch"] = "a: 1\nb: *a\n";
  const auto decision = mutate(workflow, policy);
  CHECK(decision.rule == "podSpecPatch");
  CHECK(decision.response.message ==
        "Error: spec.podSpecPatch holds a YAML alias (*a); anchors and aliases are not expanded "
        "(line 2, column 4). The webhook adds the gh-token initContainer and the run's volume "
        "mounts to it and does not change what it means: write it as JSON, or as YAML without "
        "anchors, aliases, merge keys or tags, with Argo expressions quoted");
}

// ---- precedence in a CodeRun: every spec field the user set is kept, with a warning

TEST_CASE("hunt: a CodeRun's own values win over its event, field by field, with a warning") {
  struct Case {
    const char* field;   // as the webhook names it
    const char* key;     // in spec
    json user;
    std::string shown;   // the user's value as quoted
    const char* event;
    std::string from_event;
  };
  const std::vector<Case> cases = {
      {"repoFullName", "repo", "someone/other-repo", "someone/other-repo", "pull_request.opened",
       "Codertocat/Hello-World"},
      {"owner", "owner", "someone", "someone", "pull_request.opened", "Codertocat"},
      {"ref", "ref", "release", "release", "pull_request.opened", "changes"},
      {"sha", "sha", std::string(40, 'a'), std::string(40, 'a'), "pull_request.opened",
       "ec26c3e57ca3a959ca5aad62de7213c562f8c821"},
      {"prNumber", "pullRequest", 77, "77", "pull_request.opened", "2"},
      {"issueNumber", "issueNumber", 42, "42", "issues.opened", "1"}};
  const FakePrompts prompts({"/etc/agents/rex_system-prompt.md"});
  for (const auto& c : cases) {
    CAPTURE(c.field);
    json spec = {{"github", {{"appName", "rex"}}},
                 {"taskRef", "task/x"},
                 {"event", read_event_fixture(c.event)}};
    spec[c.key] = c.user;
    const json run = code_run(spec);
    const auto decision = decide(create_request(run), kPolicy, prompts, Phase::kMutate);
    REQUIRE(decision.response.allowed);
    CHECK(has_exact_warning(decision, std::string(c.field) + ": '" + c.shown +
                                          "' set by the user is kept; the event says '" +
                                          c.from_event + "'"));
    REQUIRE(decision.resolution.find(c.field));
    CHECK(decision.resolution.find(c.field)->source == "spec");
    CHECK(applied(run, decision)["spec"][c.key] == c.user);
  }
}

// ---- the plumbing follows the policy: every name, path and key from where the policy says

TEST_CASE("hunt: a CodeRun's plumbing under a policy whose names all differ") {
  const auto policy = coderun::policy::parse_policy(R"(
token:
  image: example/token:1
  containerName: mint
  secretNamePattern: "app-{app}-creds"
  appIdKey: id
  privateKeyKey: pem
volumes:
  workspace: {name: ws, mountPath: /w}
  agents: {name: ag, configMap: agents-cm, mountPath: /etc/agents}
  mcpRequirements: {name: mcp, configMap: mcp-cm, key: r.yaml, mountPath: /m/r.yaml}
  token: {name: tok, mountPath: /t}
)");
  const json run = code_run({{"repo", "a/b"}, {"github", {{"appName", "rex"}}}, {"taskRef", "task/x"}});
  const auto decision = decide(create_request(run), policy, kPrompts, Phase::kMutate);
  REQUIRE(decision.response.allowed);
  const json spec = applied(run, decision)["spec"];
  CHECK(spec["volumes"] == json::parse(R"([
    {"name": "ws", "emptyDir": {}},
    {"name": "ag", "configMap": {"name": "agents-cm"}},
    {"name": "mcp", "configMap": {"name": "mcp-cm", "items": [{"key": "r.yaml", "path": "r.yaml"}]}},
    {"name": "tok", "emptyDir": {}}])"));
  CHECK(spec["volumeMounts"] == json::parse(R"([
    {"name": "ws", "mountPath": "/w"},
    {"name": "ag", "mountPath": "/etc/agents", "readOnly": true},
    {"name": "mcp", "mountPath": "/m/r.yaml", "readOnly": true, "subPath": "r.yaml"},
    {"name": "tok", "mountPath": "/t"}])"));
  CHECK(spec["initContainers"] == json::parse(R"([{"name": "mint", "image": "example/token:1",
    "env": [
      {"name": "APP_ID", "valueFrom": {"secretKeyRef": {"name": "app-rex-creds", "key": "id"}}},
      {"name": "PRIVATE_KEY", "valueFrom": {"secretKeyRef": {"name": "app-rex-creds", "key": "pem"}}}],
    "volumeMounts": [{"name": "tok", "mountPath": "/t"}]}])"));
  CHECK(spec["github"]["tokenFile"] == "/t/token");
  CHECK(spec["workspace"]["path"] == "/w");
  CHECK(spec["mcpRequirementsFile"] == "/m/r.yaml");
}

TEST_CASE("hunt: cluster checks look in the ConfigMaps and Secret the policy names") {
  auto policy = coderun::policy::parse_policy(R"(
clusterChecks: enforce
token: {secretNamePattern: "app-{app}-creds"}
volumes:
  agents: {name: ag, configMap: agents-cm, mountPath: /etc/agents}
  mcpRequirements: {name: mcp, configMap: mcp-cm, key: r.yaml, mountPath: /m/r.yaml}
)");
  const FakeView view(R"([
    {kind: Namespace, metadata: {name: argo}},
    {kind: ConfigMap, metadata: {name: agents-cm, namespace: argo}, data: {rex_system-prompt.md: x}},
    {kind: ConfigMap, metadata: {name: mcp-cm, namespace: argo}, data: {r.yaml: x}},
    {kind: Secret, metadata: {name: app-rex-creds, namespace: argo}}
  ])");
  const json workflow = workflow_with(params({{"github-app", "rex"}, {"repoFullName", "a/b"}}));
  const auto decision =
      decide(create_request(workflow), policy, kPrompts, Phase::kMutate, nullptr, &view);
  CHECK(decision.response.allowed);
  CHECK(decision.response.warnings.empty());
}

TEST_CASE("hunt: prompts.user and docs.path meet the path rules on create, word for word") {
  const FakePrompts prompts({"/etc/agents/rex_system-prompt.md"});
  for (const auto& [user, reason] : std::vector<std::pair<std::string, std::string>>{
           {"../x", "contains a '..' component"},
           {"task/$(id).md", "contains '$', which a shell would act on"},
           {"/etc/passwd", "is absolute; it must be relative"}}) {
    CAPTURE(user);
    const json run = code_run({{"repo", "a/b"},
                               {"github", {{"appName", "rex"}}},
                               {"taskRef", "task/x"},
                               {"prompts", {{"user", user}}}});
    const auto decision = decide(create_request(run), kPolicy, prompts, Phase::kMutate);
    CHECK(decision.rule == "safe-value:prompts.user");
    CHECK(decision.response.message == "Error: Invalid prompts.user '" + user + "': " + reason);
  }
  json docs = code_run({{"repo", "a/b"}, {"github", {{"appName", "rex"}}}, {"docs", {{"path", "/abs"}}}});
  docs["kind"] = "DocsRun";
  const auto decision = decide(create_request(docs), kPolicy, prompts, Phase::kMutate);
  CHECK(decision.response.message == "Error: Invalid docs.path '/abs': is absolute; it must be relative");
}

TEST_CASE("hunt: a kind of the same name in another API group is not served") {
  json code = code_run({{"github", {{"appName", "nope"}}}});
  json docs = code;
  docs["kind"] = "DocsRun";
  json flow = workflow_with(params({{"github-app", "nope"}}));
  for (json object : {code, docs, flow}) {
    REQUIRE_FALSE(mutate(object).response.allowed);  // served in its own group: denied
    object["apiVersion"] = "example.com/v1";
    CAPTURE(object["kind"]);
    const auto decision = mutate(object);
    CHECK(decision.outcome == "ignored");
    CHECK(decision.response.allowed);
    CHECK(decision.response.patch.empty());
  }
}
