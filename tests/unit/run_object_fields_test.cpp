#include <catch2/catch.hpp>
#include <variant>

#include "admission/review.h"
#include "decision/decide.h"
#include "decision/run_inputs.h"
#include "test_support.h"
#include "util/json_text.h"

// The server builds only decision::run_object_fields() of request.object. Any field the decision
// reads and the keep-list forgets would silently change decisions (a forgotten podSpecPatch would
// be replaced rather than merged into): so every object here is decided twice, whole and as the
// server reads it, and the answers must be the same, patch included.

using coderun::decision::decide;
using coderun::decision::Phase;
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

coderun::admission::Request as_the_server_reads(const json& object) {
  const auto whole = create_request(object);
  const json review = {
      {"apiVersion", "admission.k8s.io/v1"},
      {"kind", "AdmissionReview"},
      {"request",
       {{"uid", whole.uid},
        {"kind",
         {{"group", whole.kind.group}, {"version", whole.kind.version}, {"kind", whole.kind.kind}}},
        {"operation", "CREATE"},
        {"namespace", whole.namespace_name},
        {"object", object},
        {"oldObject", object}}}};
  coderun::admission::ReviewLimits limits;
  limits.object_fields = &coderun::decision::run_object_fields();
  auto parsed = coderun::admission::parse_review(coderun::util::dump_json(review), limits);
  REQUIRE(std::holds_alternative<coderun::admission::Request>(parsed));
  return std::get<coderun::admission::Request>(std::move(parsed));
}

// workflowPlumbing: podSpecPatch, where the user's podSpecPatch and volumes are read.
const coderun::policy::Policy kPodSpecPatchPolicy = [] {
  coderun::policy::Policy policy;
  policy.workflow_plumbing = coderun::policy::WorkflowPlumbing::kPodSpecPatch;
  return policy;
}();

void decided_alike(const json& object) {
  for (const auto& [policy, phase] :
       {std::pair{&kPolicy, Phase::kMutate}, std::pair{&kPolicy, Phase::kValidate},
        std::pair{&kPodSpecPatchPolicy, Phase::kMutate},
        std::pair{&kPodSpecPatchPolicy, Phase::kValidate}}) {
    INFO("workflowPlumbing " << coderun::policy::to_string(policy->workflow_plumbing));
    const auto whole = decide(create_request(object), *policy, kPrompts, phase);
    const auto pruned = decide(as_the_server_reads(object), *policy, kPrompts, phase);
    CHECK(pruned.response.allowed == whole.response.allowed);
    CHECK(pruned.response.message == whole.response.message);
    CHECK(pruned.response.patch == whole.response.patch);
    CHECK(pruned.response.warnings == whole.response.warnings);
    CHECK(pruned.response.audit_annotations == whole.response.audit_annotations);
    CHECK(pruned.outcome == whole.outcome);
  }
}

json agent_run(const char* kind, json spec) {
  return {{"apiVersion", "taskmaster.io/v1"},
          {"kind", kind},
          {"metadata",
           {{"generateName", "run-"},
            {"namespace", "argo"},
            {"labels", {{"team", "a"}}},
            {"managedFields", json::array({{{"manager", "kubectl"}}})}}},
          {"spec", std::move(spec)},
          {"status", {{"phase", "Pending"}}}};
}

}  // namespace

TEST_CASE("what the server builds of a Workflow decides as the whole Workflow does") {
  const std::string event = read_event_fixture("pull_request.opened").dump();
  json plain = workflow_with(params({{"github-app", "rex"}, {"event", event}}));
  INFO("plain");
  decided_alike(plain);

  json rich = plain;
  rich["metadata"]["labels"] = {{"taskmaster.io/github-app", "rex"}, {"team", "a"}};
  rich["metadata"]["annotations"] = {{"note", "x"}};
  rich["metadata"]["managedFields"] = json::array({{{"manager", "argo"}}});
  rich["spec"]["podSpecPatch"] =
      "containers:\n- name: main\n  resources: {limits: {memory: \"{{workflow.parameters.m}}\"}}\n";
  rich["spec"]["volumes"] = json::array({{{"name", "workspace"}, {"emptyDir", json::object()}}});
  rich["spec"]["templates"] = json::array({{{"name", "main"}, {"container", {{"image", "x"}}}}});
  rich["spec"]["entrypoint"] = "main";
  rich["status"] = {{"phase", "Running"}};
  INFO("with podSpecPatch, volumes, labels, templates, status");
  decided_alike(rich);

  json filled = rich;
  filled["spec"]["arguments"]["parameters"].push_back({{"name", "ref"}, {"value", ""}});
  filled["spec"]["arguments"]["parameters"].push_back(
      {{"name", "repoFullName"}, {"valueFrom", {{"configMapKeyRef", {{"name", "x"}}}}}});
  INFO("an empty parameter and one set from elsewhere");
  decided_alike(filled);

  json denied = workflow_with(params({{"github-app", "hacker"}, {"repoFullName", "a/b"}}));
  INFO("denied");
  decided_alike(denied);
}

TEST_CASE("what the server builds of a CodeRun or DocsRun decides as the whole object does") {
  const json event = read_event_fixture("issue_comment.created.on-pull-request");
  decided_alike(agent_run("CodeRun", {{"github", {{"appName", "rex"}}}, {"event", event}}));
  decided_alike(agent_run("CodeRun", {{"github", {{"appName", "rex"}}},
                                      {"event", event.dump()},
                                      {"prompts", {{"user", "task/other.md"}}},
                                      {"initContainers", json::array({{{"name", "setup"}}})},
                                      {"volumes", json::array({{{"name", "cache"}}})},
                                      {"volumeMounts", json::array()},
                                      {"unknownField", {{"deep", json::array({1, 2})}}}}));
  decided_alike(agent_run("DocsRun", {{"github", {{"appName", "rex"}}},
                                      {"repo", "a/b"},
                                      {"docs", {{"path", "site/"}}},
                                      {"taskRef", "../escape"}}));
  decided_alike(agent_run(
      "CodeRun",
      {{"github", {{"appName", "rex"}}}, {"repo", "a/b"}, {"pullRequest", "not a number"}}));
}
