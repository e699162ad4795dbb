#include <catch2/catch.hpp>

#include "decision/decide.h"
#include "test_support.h"

using coderun::decision::decide;
using coderun::decision::Decision;
using coderun::decision::Phase;
using coderun::testing::create_request;
using coderun::testing::FakePrompts;
using coderun::testing::read_event_fixture;
using nlohmann::json;

namespace {

const coderun::policy::Policy kPolicy{};
const FakePrompts kPrompts({"/etc/agents/rex_system-prompt.md",
                            "/etc/agents/default_system-prompt.md"});

json agent_run(const char* kind, const json& spec) {
  return {{"apiVersion", "taskmaster.io/v1"},
          {"kind", kind},
          {"metadata", {{"generateName", "run-"}, {"namespace", "argo"}}},
          {"spec", spec}};
}

Decision mutate(const json& object) {
  return decide(create_request(object), kPolicy, kPrompts, Phase::kMutate);
}

json mutated(const json& object) {
  const auto decision = mutate(object);
  REQUIRE(decision.response.allowed);
  return decision.response.patch.empty() ? object
                                         : object.patch(decision.response.patch_operations());
}

const json kTokenContainer = json::parse(R"({
  "name": "gh-token", "image": "ghcr.io/myorg/ghapp-token-gen:latest",
  "env": [
    {"name": "APP_ID", "valueFrom": {"secretKeyRef": {"name": "github-app-rex", "key": "appId"}}},
    {"name": "PRIVATE_KEY", "valueFrom": {"secretKeyRef": {"name": "github-app-rex", "key": "privateKey"}}}],
  "volumeMounts": [{"name": "gh-token", "mountPath": "/var/run/github"}]})");
const json kVolumes = json::parse(R"([
  {"name": "workspace", "emptyDir": {}},
  {"name": "controller-agents", "configMap": {"name": "controller-agents"}},
  {"name": "mcp-requirements", "configMap": {"name": "mcp-requirements",
                                             "items": [{"key": "requirements.yaml", "path": "requirements.yaml"}]}},
  {"name": "gh-token", "emptyDir": {}}])");
const json kMounts = json::parse(R"([
  {"name": "workspace", "mountPath": "/work/src"},
  {"name": "controller-agents", "mountPath": "/etc/agents", "readOnly": true},
  {"name": "mcp-requirements", "mountPath": "/work/requirements.yaml", "subPath": "requirements.yaml", "readOnly": true},
  {"name": "gh-token", "mountPath": "/var/run/github"}])");

}  // namespace

TEST_CASE("a CodeRun from a GitHub event is completed in full") {
  const json event = read_event_fixture("pull_request.opened");
  const json result = mutated(agent_run(
      "CodeRun", {{"github", {{"appName", "rex"}}}, {"taskRef", "task/format"}, {"event", event}}));
  json expected_spec = {
      {"repo", "Codertocat/Hello-World"},
      {"owner", "Codertocat"},
      {"ref", "changes"},
      {"sha", "ec26c3e57ca3a959ca5aad62de7213c562f8c821"},
      {"pullRequest", 2},
      {"prompts", {{"system", "/etc/agents/rex_system-prompt.md"}, {"user", "task/prompt.md"}}},
      {"mcpRequirementsFile", "/work/requirements.yaml"},
      {"github", {{"appName", "rex"}, {"tokenFile", "/var/run/github/token"}}},
      {"workspace", {{"path", "/work/src"}}},
      {"taskRef", "task/format"},
      {"event", event},
      {"initContainers", json::array({kTokenContainer})},
      {"volumes", kVolumes},
      {"volumeMounts", kMounts}};
  CHECK(result["spec"] == expected_spec);
  CHECK(result["metadata"]["labels"] == json({{"taskmaster.io/github-app", "rex"},
                                              {"taskmaster.io/repo", "Codertocat.Hello-World"},
                                              {"taskmaster.io/pr-number", "2"}}));
  CHECK(mutate(result).response.patch.empty());
}

TEST_CASE("a DocsRun from explicit fields is completed in full") {
  const json result = mutated(agent_run("DocsRun", {{"repo", "acme/handbook"},
                                                    {"ref", "main"},
                                                    {"github", {{"appName", "triage"}}},
                                                    {"taskRef", "docs/api-guide"}}));
  json token = kTokenContainer;
  token["env"][0]["valueFrom"]["secretKeyRef"]["name"] = "github-app-triage";
  token["env"][1]["valueFrom"]["secretKeyRef"]["name"] = "github-app-triage";
  const json expected_spec = {
      {"repo", "acme/handbook"},
      {"owner", "acme"},
      {"ref", "main"},
      {"prompts", {{"system", "/etc/agents/default_system-prompt.md"}, {"user", "docs/task.md"}}},
      {"github", {{"appName", "triage"}, {"tokenFile", "/var/run/github/token"}}},
      {"workspace", {{"path", "/work/src"}}},
      {"docs", {{"path", "docs/"}, {"action", "build-preview"}}},
      {"taskRef", "docs/api-guide"},
      {"initContainers", json::array({token})},
      {"volumes", kVolumes},
      {"volumeMounts", kMounts}};
  CHECK(result["spec"] == expected_spec);
  const auto again = mutate(result);
  CHECK(again.response.patch.empty());
  CHECK(again.outcome == "unchanged");
}

TEST_CASE("a CodeRun's and a DocsRun's plumbing is the same under both workflowPlumbing modes") {
  coderun::policy::Policy pod_spec_patch;
  pod_spec_patch.workflow_plumbing = coderun::policy::WorkflowPlumbing::kPodSpecPatch;
  const json event = read_event_fixture("pull_request.opened");
  for (const char* kind : {"CodeRun", "DocsRun"}) {
    INFO(kind);
    const json run = agent_run(kind, {{"github", {{"appName", "rex"}}}, {"event", event}});
    const auto none = decide(create_request(run), kPolicy, kPrompts, Phase::kMutate);
    const auto patched = decide(create_request(run), pod_spec_patch, kPrompts, Phase::kMutate);
    REQUIRE(none.response.allowed);
    REQUIRE(patched.response.allowed);
    CHECK(none.response.patch == patched.response.patch);
    for (const auto* decision : {&none, &patched}) {
      const json result = run.patch(decision->response.patch_operations());
      CHECK(result["spec"]["initContainers"] == json::array({kTokenContainer}));
      CHECK(result["spec"]["volumes"] == kVolumes);
      CHECK(result["spec"]["volumeMounts"] == kMounts);
    }
  }
}

TEST_CASE("a CodeRun's own containers, volumes and mounts are kept and never duplicated") {
  json spec = {
      {"repo", "acme/tools"},
      {"github", {{"appName", "rex"}}},
      {"initContainers", json::array({{{"name", "gh-token"}, {"image", "mine:1"}}})},
      {"volumes",
       json::array({{{"name", "workspace"}, {"persistentVolumeClaim", {{"claimName", "ws"}}}}})},
      {"volumeMounts", json::array({{{"name", "my-src"}, {"mountPath", "/work/src"}}})}};
  const json result = mutated(agent_run("CodeRun", spec));
  CHECK(result["spec"]["initContainers"] ==
        json::array({{{"name", "gh-token"}, {"image", "mine:1"}}}));
  CHECK(result["spec"]["volumes"].size() == 4);
  CHECK(result["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "ws");
  CHECK(result["spec"]["volumeMounts"].size() ==
        4);  // /work/src taken by my-src: workspace not added
  CHECK(result["spec"]["volumeMounts"][0]["name"] == "my-src");
  CHECK(result["spec"]["ref"] == "main");
}

TEST_CASE("an empty field is filled; a field the user set is kept") {
  const json result =
      mutated(agent_run("CodeRun", {{"repo", "acme/tools"},
                                    {"ref", ""},
                                    {"github", {{"appName", "rex"}, {"tokenFile", "/t/x"}}},
                                    {"prompts", {{"user", "custom.md"}}}}));
  CHECK(result["spec"]["ref"] == "main");
  CHECK(result["spec"]["github"]["tokenFile"] == "/t/x");
  CHECK(result["spec"]["prompts"]["user"] == "custom.md");
  CHECK(result["spec"]["prompts"]["system"] == "/etc/agents/rex_system-prompt.md");
}

TEST_CASE("CodeRun denials") {
  SECTION("app") {
    const auto decision =
        mutate(agent_run("CodeRun", {{"repo", "a/b"}, {"github", {{"appName", "bob"}}}}));
    CHECK(decision.response.message ==
          "Error: Invalid github-app 'bob'. Must be one of: rex, clippy, qa, triage, security");
  }
  SECTION("no repository") {
    const auto decision = mutate(agent_run("CodeRun", {{"github", {{"appName", "rex"}}}}));
    CHECK(
        decision.response.message ==
        "Error: Repository information not available from event payload and no git context found");
  }
  SECTION("a repository that is not owner/name") {
    const auto decision =
        mutate(agent_run("CodeRun", {{"repo", "just-a-name"}, {"github", {{"appName", "rex"}}}}));
    CHECK_FALSE(decision.response.allowed);
    CHECK(decision.rule == "safe-value:repoFullName");
    CHECK_THAT(decision.response.message, Catch::Contains("not of the form owner/repo"));
  }
  SECTION("a taskRef that leaves its directory") {
    const auto decision = mutate(agent_run(
        "CodeRun",
        {{"repo", "a/b"}, {"github", {{"appName", "rex"}}}, {"taskRef", "../../etc/passwd"}}));
    CHECK(decision.rule == "safe-value:taskRef");
    CHECK(decision.response.message ==
          "Error: Invalid taskRef '../../etc/passwd': contains a '..' component");
  }
  SECTION("the schema names the JSON path and the rule") {
    const auto decision = mutate(agent_run("CodeRun", {{"repo", "a/b"},
                                                       {"github", {{"appName", "rex"}}},
                                                       {"workspace", {{"path", "relative"}}}}));
    CHECK_FALSE(decision.response.allowed);
    CHECK(decision.rule == "schema");
    CHECK_THAT(decision.response.message,
               Catch::StartsWith("Error: CodeRun is invalid at $.spec.workspace.path: "));
  }
  SECTION("a pullRequest of the wrong type") {
    const auto decision = mutate(agent_run(
        "CodeRun",
        {{"repo", "a/b"}, {"github", {{"appName", "rex"}}}, {"pullRequest", {{"n", 1}}}}));
    CHECK_FALSE(decision.response.allowed);
    CHECK_THAT(decision.response.message, Catch::Contains("$.spec.pullRequest"));
  }
  SECTION("the validating pass checks the stored object against the schema") {
    const auto decision = decide(
        create_request(agent_run("DocsRun", {{"repo", "a/b"}, {"github", {{"appName", "rex"}}}})),
        kPolicy, kPrompts, Phase::kValidate);
    CHECK_FALSE(decision.response.allowed);
    CHECK_THAT(decision.response.message, Catch::StartsWith("Error: DocsRun is invalid at $.spec"));
  }
}

TEST_CASE("a CodeRun's event may be an Argo Events envelope or a JSON string") {
  const json body = read_event_fixture("push.branch");
  const json envelope = {{"headers", {{"X-Github-Event", {"push"}}}}, {"body", body}};
  CHECK(mutated(agent_run("CodeRun", {{"github", {{"appName", "rex"}}},
                                      {"event", envelope}}))["spec"]["ref"] == "master");
  CHECK(mutated(agent_run("CodeRun", {{"github", {{"appName", "rex"}}},
                                      {"event", body.dump()}}))["spec"]["ref"] == "master");
}

TEST_CASE("an issue event fills a CodeRun's and a DocsRun's issueNumber, never over the user's") {
  const json event = read_event_fixture("issues.opened");
  for (const char* kind : {"CodeRun", "DocsRun"}) {
    CAPTURE(kind);
    const json spec = {{"github", {{"appName", "rex"}}}, {"event", event}};
    const json result = mutated(agent_run(kind, spec));
    CHECK(result["spec"]["issueNumber"] == 1);
    CHECK_FALSE(result["spec"].contains("pullRequest"));
    json given = spec;
    given["issueNumber"] = 7;
    CHECK(mutated(agent_run(kind, given))["spec"]["issueNumber"] == 7);
    given["issueNumber"] = 0;  // not a positive number: refused, never replaced
    CHECK_FALSE(mutate(agent_run(kind, given)).response.allowed);
  }
}
