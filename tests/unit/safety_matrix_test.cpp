// Each safety rule alone, for every field it guards, in Workflows and in CodeRuns, on CREATE and
// on UPDATE; every filled field's precedence; the Workflow plumbing compared whole. A rule that
// stops refusing one character, or a field whose user value the event overwrites, fails here by
// name (a test string holding two refused characters would hide the loss of one).
#include <catch2/catch.hpp>
#include <string>
#include <vector>

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
const FakePrompts kPrompts({"/etc/agents/rex_system-prompt.md",
                            "/etc/agents/default_system-prompt.md"});

// README, "Safety rules": the characters a shell acts on, refused in refs and paths. Written out
// here rather than read from the code, so that the code cannot drop one unnoticed.
const std::string kShellCharacters = std::string("$`();|&<>'\"\\*?[]{}!#~^ \t\n\r");
const std::vector<std::string> kControlCharacters = {std::string(1, '\x01'), "\x1b", "\x1f",
                                                     std::string(1, '\x7f'), std::string(1, '\0')};

enum class Operation { kCreate, kUpdate };

json workflow_of(const std::vector<std::pair<const char*, std::string>>& values) {
  json parameters = json::array();
  for (const auto& [name, value] : values) parameters.push_back({{"name", name}, {"value", value}});
  return workflow_with(parameters);
}

// The decision on `changed`, submitted as is (CREATE) or as an update of a valid stored object.
Decision decided(const json& valid, const json& changed, Operation operation, Phase phase) {
  auto request = create_request(changed);
  if (operation == Operation::kUpdate) {
    const Decision first = decide(create_request(valid), kPolicy, kPrompts, Phase::kMutate);
    REQUIRE(first.response.allowed);
    request.operation = "UPDATE";
    request.old_object = first.response.patch.empty()
                             ? valid
                             : valid.patch(first.response.patch_operations());
  }
  return decide(request, kPolicy, kPrompts, phase);
}

void require_refused(const json& valid, const json& changed, const std::string& rule,
                     const std::string& reason) {
  for (const auto operation : {Operation::kCreate, Operation::kUpdate}) {
    for (const auto phase : {Phase::kMutate, Phase::kValidate}) {
      CAPTURE(operation == Operation::kCreate ? "CREATE" : "UPDATE",
              phase == Phase::kMutate ? "mutate" : "validate");
      const Decision decision = decided(valid, changed, operation, phase);
      CHECK_FALSE(decision.response.allowed);
      CHECK(decision.rule == rule);
      CHECK_THAT(decision.response.message, Catch::Contains(reason));
    }
  }
}

// A valid value with `inserted` put in its middle, for each field the rules guard: the value
// alone is what makes the difference.
struct GuardedField {
  const char* name;          // Workflow parameter
  const char* rule;          // denial rule
  std::string before, after;  // valid text around the inserted character
};

const std::vector<GuardedField> kShellGuarded = {
    {"ref", "safe-value:ref", "feature", "x"},
    {"taskRef", "safe-value:taskRef", "task/", "x"},
    {"systemPromptPath", "safe-value:systemPromptPath", "/etc/agents/rex", ".md"},
};

json valid_workflow() {
  return workflow_of({{"github-app", "rex"},
                      {"repoFullName", "octo/hello"},
                      {"ref", "main"},
                      {"taskRef", "task/x"},
                      {"systemPromptPath", "/etc/agents/rex_system-prompt.md"}});
}

// Tab, newline and carriage return are refused as control characters, the rest by name.
std::string shell_reason(char c) {
  if (static_cast<unsigned char>(c) < 0x20) return "contains a control character";
  return std::string("contains '") + c + "', which a shell would act on";
}

json with_parameter(json workflow, const std::string& name, const std::string& value) {
  for (auto& parameter : workflow["spec"]["arguments"]["parameters"]) {
    if (parameter["name"] == name) parameter["value"] = value;
  }
  return workflow;
}

}  // namespace

TEST_CASE("the valid base objects are allowed, so every refusal below is the value's doing") {
  for (const auto operation : {Operation::kCreate, Operation::kUpdate}) {
    CHECK(decided(valid_workflow(), valid_workflow(), operation, Phase::kMutate).response.allowed);
  }
}

TEST_CASE("every shell character, alone, is refused in every field that reaches a shell") {
  const json valid = valid_workflow();
  for (const auto& field : kShellGuarded) {
    for (const char c : kShellCharacters) {
      const std::string value = field.before + c + field.after;
      CAPTURE(field.name, c);
      require_refused(valid, with_parameter(valid, field.name, value), field.rule,
                      shell_reason(c));
    }
    for (const auto& control : kControlCharacters) {
      const std::string value = field.before + control + field.after;
      CAPTURE(field.name, static_cast<int>(control[0]));
      require_refused(valid, with_parameter(valid, field.name, value), field.rule,
                      control[0] == '\0' ? "contains a NUL byte" : "contains a control character");
    }
  }
}

TEST_CASE("owner, repo and repoFullName take only GitHub's characters, each one checked alone") {
  const json valid = valid_workflow();
  for (const char c : kShellCharacters + "/:@+=,%") {
    CAPTURE(c);
    // repoFullName is split first: the part that is wrong is named, with where it came from.
    if (c != '/') {
      require_refused(valid, with_parameter(valid, "repoFullName", std::string("octo/hel") + c + "lo"),
                      "safe-value:repo", "(from parameter:repoFullName): may only contain");
      require_refused(valid, with_parameter(valid, "repoFullName", std::string("oc") + c + "to/hello"),
                      "safe-value:owner", "(from parameter:repoFullName): may only contain");
    }
    json split = workflow_of({{"github-app", "rex"}, {"owner", std::string("oc") + c + "to"},
                              {"repo", "hello"}});
    require_refused(valid, split, "safe-value:owner", "may only contain letters, digits and single hyphens");
    split = workflow_of({{"github-app", "rex"}, {"owner", "octo"}, {"repo", std::string("he") + c + "llo"}});
    require_refused(valid, split, "safe-value:repo", "may only contain letters, digits, '.', '_' and '-'");
  }
}

TEST_CASE("every ref form git or a shell would misread is refused, each alone") {
  const json valid = valid_workflow();
  const std::vector<std::pair<std::string, std::string>> refs = {
      {"-x", "starts with '-'"},          {"/main", "starts or ends with '/'"},
      {"main/", "starts or ends with '/'"}, {"main.", "ends with '.'"},
      {"@", "is '@'"},                     {"a..b", "contains '..'"},
      {"a//b", "contains '//'"},  // '@{' needs '{', refused above as a shell character
      {"a:b", "contains ':'"},             {".hidden", "path component starting with '.'"},
      {"a/.b", "path component starting with '.'"}, {"a.lock", "ending with '.lock'"},
      {"a/b.lock/c", "ending with '.lock'"}, {std::string(256, 'a'), "longer than 255"}};
  for (const auto& [ref, reason] : refs) {
    CAPTURE(ref);
    require_refused(valid, with_parameter(valid, "ref", ref), "safe-value:ref", reason);
  }
}

TEST_CASE("every traversal form is refused in taskRef and systemPromptPath, each alone") {
  const json valid = valid_workflow();
  for (const auto& [path, reason] : std::vector<std::pair<std::string, std::string>>{
           {"../x", "'..' component"}, {"task/../../x", "'..' component"},
           {"task/..", "'..' component"}, {"..", "'..' component"},
           {"/etc/passwd", "is absolute"}, {"-x", "starts with '-'"}}) {
    CAPTURE(path);
    require_refused(valid, with_parameter(valid, "taskRef", path), "safe-value:taskRef", reason);
  }
  for (const auto& [path, reason] : std::vector<std::pair<std::string, std::string>>{
           {"/etc/agents/../passwd", "'..' component"},
           {"/etc/agents/x/../../passwd", "'..' component"},
           {"/etc/agentsX/rex_system-prompt.md", "is not inside /etc/agents"},
           {"/etc/passwd", "is not inside /etc/agents"},
           {"etc/agents/rex_system-prompt.md", "is not inside /etc/agents"},
           {"/etc/agents/-x", "starts with '-'"}}) {
    CAPTURE(path);
    require_refused(valid, with_parameter(valid, "systemPromptPath", path),
                    "safe-value:systemPromptPath", reason);
  }
}

TEST_CASE("a CodeRun's fields meet the same rules, on create and on update") {
  const json valid = {{"apiVersion", "taskmaster.io/v1"},
                      {"kind", "CodeRun"},
                      {"metadata", {{"name", "run-1"}, {"namespace", "argo"}}},
                      {"spec",
                       {{"repo", "octo/hello"},
                        {"ref", "main"},
                        {"github", {{"appName", "rex"}}},
                        {"taskRef", "task/x"},
                        {"prompts", {{"system", "/etc/agents/rex_system-prompt.md"}}}}}};
  for (const char c : kShellCharacters) {
    CAPTURE(c);
    const std::string reason = shell_reason(c);
    json changed = valid;
    changed["spec"]["ref"] = std::string("feature") + c + "x";
    require_refused(valid, changed, "safe-value:ref", reason);
    changed = valid;
    changed["spec"]["taskRef"] = std::string("task/") + c + "x";
    require_refused(valid, changed, "safe-value:taskRef", reason);
    changed = valid;
    changed["spec"]["prompts"]["system"] = std::string("/etc/agents/rex") + c + ".md";
    require_refused(valid, changed, "safe-value:systemPromptPath", reason);
    changed = valid;
    changed["spec"]["repo"] = std::string("octo/hel") + c + "lo";
    require_refused(valid, changed, "safe-value:repo", "(from spec:repoFullName): may only contain");
  }
}

TEST_CASE("a value the user set that disagrees with the event is kept, with a warning, per field") {
  struct Case {
    const char* field;
    const char* event;
    std::string user;
    std::string from_event;
  };
  const std::vector<Case> cases = {
      {"owner", "pull_request.opened", "someone", "Codertocat"},
      {"repo", "pull_request.opened", "other-repo", "Hello-World"},
      {"repoFullName", "pull_request.opened", "someone/other-repo", "Codertocat/Hello-World"},
      {"ref", "pull_request.opened", "release", "changes"},
      {"sha", "pull_request.opened", std::string(40, 'a'), "ec26c3e57ca3a959ca5aad62de7213c562f8c821"},
      {"prNumber", "pull_request.opened", "77", "2"},
      {"issueNumber", "issues.opened", "42", "1"}};
  for (const auto& c : cases) {
    CAPTURE(c.field);
    const json workflow = workflow_of(
        {{"github-app", "rex"}, {"event", read_event_fixture(c.event).dump()}, {c.field, c.user}});
    const Decision decision = decide(create_request(workflow), kPolicy, kPrompts, Phase::kMutate);
    REQUIRE(decision.response.allowed);
    const json result = decision.response.patch.empty()
                            ? workflow
                            : workflow.patch(decision.response.patch_operations());
    int seen = 0;
    for (const auto& parameter : result["spec"]["arguments"]["parameters"]) {
      if (parameter["name"] != c.field) continue;
      ++seen;
      CHECK(parameter["value"] == c.user);
    }
    CHECK(seen == 1);
    const std::string warning = std::string(c.field) + ": '" + c.user +
                                "' set by the user is kept; the event says '" + c.from_event + "'";
    CHECK_THAT(decision.resolution.warnings, Catch::VectorContains(warning));
    // As sent (at most 120 bytes each, README): the same text, cut where it is long.
    const std::string sent = warning.size() <= 120 ? warning : warning.substr(0, 117) + "...";
    CHECK_THAT(decision.response.warnings, Catch::VectorContains(sent));
    CHECK(decision.resolution.find(c.field)->source == "parameter");
  }
}

TEST_CASE("the Workflow's plumbing is exactly the volumes and the podSpecPatch README shows") {
  const json workflow = workflow_of({{"github-app", "rex"}, {"repoFullName", "octo/hello"}});
  coderun::policy::Policy pod_spec_patch = kPolicy;
  pod_spec_patch.workflow_plumbing = coderun::policy::WorkflowPlumbing::kPodSpecPatch;
  const Decision decision =
      decide(create_request(workflow), pod_spec_patch, kPrompts, Phase::kMutate);
  REQUIRE(decision.response.allowed);
  const json result = workflow.patch(decision.response.patch_operations());
  CHECK(result["spec"]["volumes"] == json::parse(R"([
    {"name": "workspace", "emptyDir": {}},
    {"name": "controller-agents", "configMap": {"name": "controller-agents"}},
    {"name": "mcp-requirements", "configMap": {"name": "mcp-requirements",
      "items": [{"key": "requirements.yaml", "path": "requirements.yaml"}]}},
    {"name": "gh-token", "emptyDir": {}}])"));
  CHECK(json::parse(result["spec"]["podSpecPatch"].get<std::string>()) == json::parse(R"({
    "containers": [{"name": "main", "volumeMounts": [
      {"name": "workspace", "mountPath": "/work/src"},
      {"name": "controller-agents", "mountPath": "/etc/agents", "readOnly": true},
      {"name": "mcp-requirements", "mountPath": "/work/requirements.yaml", "subPath": "requirements.yaml",
       "readOnly": true},
      {"name": "gh-token", "mountPath": "/var/run/github"}]}],
    "initContainers": [{"name": "gh-token", "image": "ghcr.io/myorg/ghapp-token-gen:latest",
      "env": [
        {"name": "APP_ID", "valueFrom": {"secretKeyRef": {"name": "github-app-rex", "key": "appId"}}},
        {"name": "PRIVATE_KEY", "valueFrom": {"secretKeyRef": {"name": "github-app-rex", "key": "privateKey"}}}],
      "volumeMounts": [{"name": "gh-token", "mountPath": "/var/run/github"}]}]})"));
}
