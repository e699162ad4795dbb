#include "policy/policy.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "policy/policy_store.h"

using namespace coderun::policy;

namespace {

struct TempFile {
  std::filesystem::path path;
  explicit TempFile(const std::string& text) {
    path = std::filesystem::temp_directory_path() /
           ("coderun-policy-" + std::to_string(::getpid()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + ".yaml");
    write(text);
  }
  ~TempFile() { std::filesystem::remove(path); }
  void write(const std::string& text) const {
    const auto next = path.string() + ".next";
    std::ofstream(next) << text;
    std::filesystem::rename(next, path);  // as a ConfigMap update: a new file, not an edit
  }
};

}  // namespace

TEST_CASE("the shipped policy loads and matches the seed") {
  const Policy policy = load_policy_file(std::string(CODERUN_SOURCE_DIR) + "/policy/policy.yaml");
  CHECK(policy.allowed_apps_text() == "rex, clippy, qa, triage, security");
  CHECK(policy.prompts_dir == "/etc/agents");
  CHECK(policy.serves_template("coderun-template"));
  CHECK(policy.serves_template("docsrun-template"));
  CHECK(policy.default_ref == "main");
  CHECK(policy.token.secret_name("rex") == "github-app-rex");
  CHECK(policy.mcp_requirements.key == "requirements.yaml");
  CHECK(policy.workflow_plumbing == WorkflowPlumbing::kNone);
}

TEST_CASE("workflowPlumbing: none by default, podSpecPatch when asked, nothing else") {
  CHECK(Policy{}.workflow_plumbing == WorkflowPlumbing::kNone);
  CHECK(parse_policy("allowedApps: [rex]").workflow_plumbing == WorkflowPlumbing::kNone);
  CHECK(parse_policy("workflowPlumbing: none").workflow_plumbing == WorkflowPlumbing::kNone);
  CHECK(parse_policy("workflowPlumbing: podSpecPatch").workflow_plumbing ==
        WorkflowPlumbing::kPodSpecPatch);
  CHECK(to_string(WorkflowPlumbing::kNone) == "none");
  CHECK(to_string(WorkflowPlumbing::kPodSpecPatch) == "podSpecPatch");
  for (const std::string text :
       {"workflowPlumbing: volumes", "workflowPlumbing: PodSpecPatch", "workflowPlumbing: ''",
        "workflowPlumbing: true", "workflowPlumbing: [none]"}) {
    INFO(text);
    try {
      parse_policy(text);
      FAIL("accepted");
    } catch (const PolicyError& e) {
      CHECK_THAT(e.what(), Catch::Contains("$.workflowPlumbing"));
    }
  }
}

TEST_CASE("an empty policy is every default") { CHECK(parse_policy("").allowed_apps.size() == 5); }

TEST_CASE("a policy that breaks its schema is refused naming the path and the rule") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"allowedApps: []", "$.allowedApps"},
      {"allowedApps: [Rex!]", "$.allowedApps[0]"},
      {"promptsDir: relative/dir", "$.promptsDir"},
      {"event: {maxBytes: 10}", "$.event.maxBytes"},
      {"unknownKey: 1", "unknownKey"},
      {"token: {secretNamePattern: fixed}", "$.token.secretNamePattern"},
  };
  for (const auto& [text, path] : cases) {
    INFO(text);
    try {
      parse_policy(text);
      FAIL("accepted");
    } catch (const PolicyError& e) {
      CHECK_THAT(e.what(), Catch::Contains(path));
    }
  }
  CHECK_THROWS_AS(parse_policy("a: [unclosed"), PolicyError);
  CHECK_THROWS_AS(load_policy_file("/nonexistent/policy.yaml"), PolicyError);
}

TEST_CASE("the store re-reads a changed file and keeps the last good policy on a bad one") {
  TempFile file("allowedApps: [rex]\n");
  PolicyStore store(file.path.string());
  CHECK(store.current()->allowed_apps == std::vector<std::string>{"rex"});
  CHECK(store.reload_if_changed() == PolicyStore::ReloadOutcome::kUnchanged);

  file.write("allowedApps: [rex, qa]\n");
  CHECK(store.reload_if_changed() == PolicyStore::ReloadOutcome::kReloaded);
  CHECK(store.current()->allowed_apps.size() == 2);

  file.write("allowedApps: 7\n");
  CHECK(store.reload_if_changed() == PolicyStore::ReloadOutcome::kRejected);
  CHECK(store.current()->allowed_apps.size() == 2);
  CHECK(store.last_error());
  CHECK(store.reload_if_changed() == PolicyStore::ReloadOutcome::kUnchanged);  // not retried

  file.write("allowedApps: [clippy]\n");
  CHECK(store.reload_if_changed() == PolicyStore::ReloadOutcome::kReloaded);
  CHECK_FALSE(store.last_error());

  // workflowPlumbing is reloaded like the rest; an unknown mode keeps the last good one.
  CHECK(store.current()->workflow_plumbing == WorkflowPlumbing::kNone);
  file.write("allowedApps: [clippy]\nworkflowPlumbing: podSpecPatch\n");
  CHECK(store.reload_if_changed() == PolicyStore::ReloadOutcome::kReloaded);
  CHECK(store.current()->workflow_plumbing == WorkflowPlumbing::kPodSpecPatch);
  file.write("allowedApps: [clippy]\nworkflowPlumbing: sidecar\n");
  CHECK(store.reload_if_changed() == PolicyStore::ReloadOutcome::kRejected);
  CHECK(store.current()->workflow_plumbing == WorkflowPlumbing::kPodSpecPatch);
  file.write("allowedApps: [clippy]\nworkflowPlumbing: none\n");
  CHECK(store.reload_if_changed() == PolicyStore::ReloadOutcome::kReloaded);
  CHECK(store.current()->workflow_plumbing == WorkflowPlumbing::kNone);
}

TEST_CASE("a policy file that vanishes keeps the last good policy") {
  auto file = std::make_unique<TempFile>("allowedApps: [rex]\n");
  PolicyStore store(file->path.string());
  file.reset();
  CHECK(store.reload_if_changed() == PolicyStore::ReloadOutcome::kRejected);
  CHECK(store.current()->allowed_apps == std::vector<std::string>{"rex"});
}

TEST_CASE("a bad policy at start is an error") {
  TempFile file("allowedApps: nope\n");
  CHECK_THROWS_AS(PolicyStore(file.path.string()), PolicyError);
}
