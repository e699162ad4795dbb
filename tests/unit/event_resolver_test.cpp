#include "github/event_resolver.h"

#include <catch2/catch.hpp>

#include "test_support.h"

using coderun::github::resolve_event;
using coderun::testing::event_fixture_names;
using coderun::testing::read_event_fixture;

namespace {

struct Expected {
  const char* fixture;
  const char* event_type;
  const char* owner;
  const char* repo;
  const char* ref;
  const char* sha;  // "" when the event has none
  const char* pr;
  const char* issue;
};

// One row per file in tests/fixtures/github-events, checked by hand against the payloads.
// Refs: refs/heads/ and refs/tags/ are removed; PRs from forks and comments on PRs use
// refs/pull/N/head; deleted refs and events without a ref use .repository.default_branch.
const Expected kExpected[] = {
    {"check_run.completed", "check_run", "Codertocat", "Hello-World", "changes",
     "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "2", ""},
    {"check_run.created", "check_run", "Codertocat", "Hello-World", "changes",
     "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "2", ""},
    {"check_run.requested_action", "check_run", "electron", "electron", "miniak/event-process-id",
     "5bd5f196a46b8222fb7484f05faba41a73cf34bd", "26764", ""},
    {"check_run.rerequested", "check_run", "github", "hello-world", "master",
     "d6fde92930d4715a2b49857d24b940956b26d2d3", "", ""},
    {"check_suite.completed", "check_suite", "Codertocat", "Hello-World", "changes",
     "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "2", ""},
    {"check_suite.requested", "check_suite", "Codertocat", "Hello-World", "master",
     "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", "", ""},
    {"check_suite.rerequested", "check_suite", "Codertocat", "Hello-World", "changes",
     "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "2", ""},
    {"create.branch", "create", "bradrydzewski", "drone-test-go", "feature-branch", "", "", ""},
    {"create.tag.go-scm", "create", "bradrydzewski", "drone-test-go", "v0.0.1", "", "", ""},
    {"create.tag", "create", "Codertocat", "Hello-World", "simple-tag", "", "", ""},
    {"delete.branch", "delete", "bradrydzewski", "drone-test-go", "master", "", "", ""},
    {"delete.tag", "delete", "Codertocat", "Hello-World", "master", "", "", ""},
    {"issue_comment.created", "issue_comment", "Codertocat", "Hello-World", "master", "", "", "1"},
    {"issue_comment.created.on-pull-request.go-scm", "issue_comment", "abc", "def-ci-webhook-test",
     "refs/pull/2/head", "", "2", "2"},
    {"issue_comment.created.on-pull-request", "issue_comment", "chhsia0", "knative-route-demo",
     "refs/pull/3/head", "", "3", "3"},
    {"issue_comment.created.with-installation", "issue_comment", "Codertocat", "Hello-World",
     "master", "", "", "1"},
    {"issues.labeled", "issues", "Codertocat", "Hello-World", "master", "", "", "1"},
    {"issues.opened", "issues", "Codertocat", "Hello-World", "master", "", "", "1"},
    {"merge_group.checks_requested.go-scm", "merge_group", "octocat", "Hello-World",
     "gh-readonly-queue/master/pr-2-f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
     "aeafa0e2e4ec6909ad75cb8fad57c0b1eb5986e6", "", ""},
    {"merge_group.checks_requested", "merge_group", "octo-org", "octo-repo",
     "gh-readonly-queue/main/pr-104-929f8209d40f77f4abc622a499c93a83babdbe64",
     "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d", "", ""},
    {"ping", "ping", "Octocoders", "Hello-World", "master", "", "", ""},
    {"ping.with-app_id", "ping", "Octocoders", "Hello-World", "master", "", "", ""},
    {"pull_request.closed.go-scm", "pull_request", "bradrydzewski", "drone-test-go", "master",
     "d2b75aa7797ec26b088fa2dd527e9d2c052fcedd", "1", ""},
    {"pull_request.closed", "pull_request", "Codertocat", "Hello-World", "changes",
     "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "2", ""},
    {"pull_request.labeled", "pull_request", "Codertocat", "Hello-World", "changes",
     "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "2", ""},
    {"pull_request.opened.from-fork", "pull_request", "listendev", "lstn", "refs/pull/217/head",
     "5864e328f129b98726813940b5bfa44707963bdc", "217", ""},
    {"pull_request.opened.go-scm", "pull_request", "bradrydzewski", "drone-test-go", "master",
     "d2b75aa7797ec26b088fa2dd527e9d2c052fcedd", "1", ""},
    {"pull_request.opened", "pull_request", "Codertocat", "Hello-World", "changes",
     "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "2", ""},
    {"pull_request.opened.with-null-body", "pull_request", "Codertocat", "Hello-World", "changes",
     "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "2", ""},
    {"pull_request.ready_for_review.with-installation", "pull_request", "Codertocat", "Hello-World",
     "changes", "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "2", ""},
    {"pull_request.reopened", "pull_request", "Codertocat", "Hello-World", "changes",
     "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "2", ""},
    {"pull_request.synchronize.go-scm", "pull_request", "bradrydzewski", "drone-test-go", "master",
     "8102e371cd01cf668893cb2d04a04d52331b1dc9", "1", ""},
    {"pull_request.synchronize", "pull_request", "Codertocat", "Hello-World", "changes",
     "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "2", ""},
    {"pull_request.synchronize.lstn", "pull_request", "leodido", "lstnpocs", "fixone",
     "a4cca4421ab8de2fc5823a3f4b8f19a6360e7ea7", "5", ""},
    {"pull_request_review.submitted.go-scm", "pull_request_review", "shivamnegi94", "testrepo",
     "shivamnegi94-patch-66", "adccd6c5030261b47e35d0d3798d4ed31a051f6d", "205", ""},
    {"pull_request_review.submitted", "pull_request_review", "Codertocat", "Hello-World", "changes",
     "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "2", ""},
    {"push.branch-created", "push", "bradrydzewski", "drone-test-go", "feature-branch",
     "d2b75aa7797ec26b088fa2dd527e9d2c052fcedd", "", ""},
    {"push.branch-deleted", "push", "bradrydzewski", "drone-test-go", "master", "", "", ""},
    {"push.branch.go-scm", "push", "Codertocat", "Hello-World", "master",
     "199eddf46df50de8d02e99bf1c5fdb4101338224", "", ""},
    {"push.branch", "push", "binkkatal", "sample_app", "master",
     "fd489864e7642b48eaad6e3f155c10e46810ec72", "", ""},
    {"push.new-branch", "push", "Codertocat", "Hello-World", "master",
     "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "", ""},
    {"push.tag-created", "push", "bradrydzewski", "drone-test-go", "v0.0.1",
     "d2b75aa7797ec26b088fa2dd527e9d2c052fcedd", "", ""},
    {"push.tag-deleted.go-scm", "push", "bradrydzewski", "drone-test-go", "master", "", "", ""},
    {"push.tag-deleted", "push", "Codertocat", "Hello-World", "master", "", "", ""},
    {"release.published.go-scm", "release", "vcalasansh", "harness-ngtriggers-test", "v1.0.0", "",
     "", ""},
    {"release.published", "release", "Codertocat", "Hello-World", "0.0.1", "", "", ""},
    {"workflow_run.completed", "workflow_run", "octo-org", "octo-repo", "master",
     "3484a3fb816e0859fd6e1cea078d76385ff50625", "", ""},
    {"workflow_run.completed.with-pull-requests", "workflow_run", "octo-org", "octo-repo", "master",
     "3484a3fb816e0859fd6e1cea078d76385ff50625", "2", ""},
    {"workflow_run.requested", "workflow_run", "octo-org", "octo-repo", "master",
     "3484a3fb816e0859fd6e1cea078d76385ff50625", "", ""},
};

std::string value_or_empty(const std::optional<coderun::github::Sourced>& value) {
  return value ? value->value : "";
}

}  // namespace

TEST_CASE("every GitHub fixture has an expected row, and every row a fixture") {
  std::vector<std::string> rows;
  for (const auto& row : kExpected) rows.emplace_back(row.fixture);
  std::sort(rows.begin(), rows.end());
  CHECK(rows == event_fixture_names());
}

TEST_CASE("resolves every GitHub fixture") {
  for (const auto& row : kExpected) {
    INFO("fixture " << row.fixture);
    const auto context = resolve_event(read_event_fixture(row.fixture));
    CHECK(context.event_type == row.event_type);
    CHECK(value_or_empty(context.owner) == row.owner);
    CHECK(value_or_empty(context.repo) == row.repo);
    CHECK(value_or_empty(context.repo_full_name) == std::string(row.owner) + "/" + row.repo);
    CHECK(value_or_empty(context.ref) == row.ref);
    CHECK(value_or_empty(context.sha) == row.sha);
    CHECK(value_or_empty(context.pr_number) == row.pr);
    CHECK(value_or_empty(context.issue_number) == row.issue);
  }
}

TEST_CASE("values carry the event path they came from") {
  const auto context = resolve_event(read_event_fixture("pull_request.opened"));
  CHECK(context.owner->source == ".repository.owner.login");
  CHECK(context.ref->source == ".pull_request.head.ref");
  CHECK(context.sha->source == ".pull_request.head.sha");
  CHECK(context.pr_number->source == ".pull_request.number");
}

TEST_CASE("a pull request from a fork uses refs/pull/N/head and names the head repository") {
  const auto context = resolve_event(read_event_fixture("pull_request.opened.from-fork"));
  CHECK(context.ref->value == "refs/pull/217/head");
  CHECK(context.ref->source == "refs/pull/{.pull_request.number}/head");
  REQUIRE(context.head_repo_full_name);
  CHECK(context.head_repo_full_name->value == "leodido/lstn");
  CHECK(context.repo_full_name->value == "listendev/lstn");
}

TEST_CASE("a pull request whose fork was deleted still gets refs/pull/N/head") {
  auto event = read_event_fixture("pull_request.opened.from-fork");
  event["pull_request"]["head"]["repo"] = nullptr;
  const auto context = resolve_event(event);
  CHECK(context.ref->value == "refs/pull/217/head");
  CHECK_FALSE(context.head_repo_full_name);
}

TEST_CASE("a comment on a pull request gives the PR number and its head ref") {
  const auto context = resolve_event(read_event_fixture("issue_comment.created.on-pull-request"));
  CHECK(context.pr_number->value == "3");
  CHECK(context.pr_number->source == ".issue.number (.issue.pull_request is set)");
  CHECK(context.ref->value == "refs/pull/3/head");
  CHECK(context.issue_number->value == "3");
}

TEST_CASE("push refs are normalised; a deleted ref falls back to the default branch") {
  CHECK(resolve_event(read_event_fixture("push.branch")).ref->value == "master");
  CHECK(resolve_event(read_event_fixture("push.tag-created")).ref->value == "v0.0.1");
  const auto deleted = resolve_event(read_event_fixture("push.branch-deleted"));
  CHECK(deleted.ref->value == "master");
  CHECK(deleted.ref->source == ".repository.default_branch");
  CHECK_FALSE(deleted.sha);  // .after is all zeros
}

TEST_CASE("the X-GitHub-Event type decides a delete event even without its shape") {
  auto event = read_event_fixture("create.branch");
  CHECK(resolve_event(event).ref->value == "feature-branch");
  CHECK(resolve_event(event, "delete").ref->value == "master");
}

TEST_CASE("normalize_ref") {
  using coderun::github::normalize_ref;
  CHECK(normalize_ref("refs/heads/feature/x") == "feature/x");
  CHECK(normalize_ref("refs/tags/v1") == "v1");
  CHECK(normalize_ref("refs/pull/3/head") == "refs/pull/3/head");
  CHECK(normalize_ref("refs/heads/") == "refs/heads/");
  CHECK(normalize_ref("main") == "main");
}

TEST_CASE("values of the wrong JSON type are ignored with a note, never used") {
  const nlohmann::json event = {
      {"repository", {{"name", 42}, {"owner", {{"login", {{"x", 1}}}}}, {"full_name", nullptr}}},
      {"pull_request", {{"number", "7; rm -rf /"}, {"head", {{"ref", true}, {"sha", 5}}}}}};
  const auto context = resolve_event(event);
  CHECK_FALSE(context.owner);
  CHECK_FALSE(context.repo);
  CHECK_FALSE(context.repo_full_name);
  CHECK_FALSE(context.pr_number);
  CHECK_FALSE(context.ref);
  CHECK_FALSE(context.sha);
  CHECK(context.notes.size() >= 4);
}

TEST_CASE("a fallback of the wrong type is not noted when an earlier source answered") {
  const nlohmann::json event = {
      {"repository", {{"name", "tools"}, {"owner", {{"login", "acme"}, {"name", 42}}}}},
      {"organization", {{"login", 7}}}};
  const auto context = resolve_event(event);
  CHECK(context.owner->value == "acme");
  CHECK(context.notes.empty());
  // Once the first source is missing, the fallback is read and its wrong type noted.
  const nlohmann::json without_login = {
      {"repository", {{"name", "tools"}, {"owner", {{"name", 42}}}}},
      {"organization", {{"login", "acme"}}}};
  const auto fallback = resolve_event(without_login);
  CHECK(fallback.owner->value == "acme");
  REQUIRE(fallback.notes.size() == 1);
  CHECK(fallback.notes[0].find(".repository.owner.name") != std::string::npos);
}

TEST_CASE("the organisation names the owner when the repository has none") {
  const nlohmann::json event = {{"organization", {{"login", "acme"}}},
                                {"repository", {{"name", "tools"}}}};
  const auto context = resolve_event(event);
  CHECK(context.owner->value == "acme");
  CHECK(context.owner->source == ".organization.login");
  CHECK(context.repo_full_name->value == "acme/tools");
}

TEST_CASE("non-object bodies resolve to nothing") {
  for (const auto& body :
       {nlohmann::json(), nlohmann::json(3), nlohmann::json::array(), nlohmann::json("x")}) {
    const auto context = resolve_event(body);
    CHECK_FALSE(context.owner);
    CHECK_FALSE(context.ref);
  }
}
