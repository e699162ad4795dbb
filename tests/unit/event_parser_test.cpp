#include "github/event_parser.h"

#include <catch2/catch.hpp>

#include "github/event_resolver.h"
#include "test_support.h"

using coderun::github::EventLimits;
using coderun::github::parse_event_argument;

TEST_CASE("the GitHub body itself is the event") {
  const auto text = coderun::testing::read_text(coderun::testing::fixtures_dir() +
                                                "/github-events/push.branch.json");
  const auto parsed = parse_event_argument(text, EventLimits{});
  CHECK_FALSE(parsed.problem);
  CHECK_FALSE(parsed.envelope);
  CHECK(parsed.body["ref"] == "refs/heads/master");
}

TEST_CASE("an Argo Events envelope gives the body and the X-GitHub-Event type") {
  const auto body = coderun::testing::read_event_fixture("issues.opened");
  for (const char* key : {"headers", "header"}) {
    nlohmann::json envelope = {
        {key, {{"X-Github-Event", {"issues"}}, {"Content-Type", {"application/json"}}}},
        {"body", body}};
    const auto parsed = parse_event_argument(envelope.dump(), EventLimits{});
    CHECK(parsed.envelope);
    CHECK(parsed.event_type == "issues");
    // The body comes back pruned to what the resolver reads; it resolves as the whole body does.
    const auto from_envelope = coderun::github::resolve_event(parsed.body, parsed.event_type);
    const auto from_body = coderun::github::resolve_event(body);
    CHECK(from_envelope.repo_full_name == from_body.repo_full_name);
    CHECK(from_envelope.issue_number == from_body.issue_number);
    CHECK(from_envelope.ref == from_body.ref);
    CHECK(parsed.body["issue"]["number"] == 1);
  }
}

TEST_CASE("an envelope whose body is a JSON string is unwrapped") {
  const nlohmann::json envelope = {{"headers", {{"x-github-event", "push"}}},
                                   {"body", R"({"ref":"refs/heads/x"})"}};
  const auto parsed = parse_event_argument(envelope.dump(), EventLimits{});
  CHECK(parsed.event_type == "push");
  CHECK(parsed.body["ref"] == "refs/heads/x");
}

TEST_CASE("no event: empty, blank or {} give an empty body and no problem") {
  for (const char* text : {"", "   ", "{}"}) {
    const auto parsed = parse_event_argument(text, EventLimits{});
    CHECK_FALSE(parsed.problem);
    CHECK(parsed.body.empty());
  }
}

TEST_CASE("unusable events give a problem, an empty body, and never throw") {
  const std::vector<std::string> bad = {"{",
                                        "not json",
                                        "[1,2]",
                                        "42",
                                        "\"text\"",
                                        "null",
                                        std::string(100, '[') + std::string(100, ']'),
                                        R"({"headers":{},"body":17})"};
  for (const auto& text : bad) {
    INFO(text);
    const auto parsed = parse_event_argument(text, EventLimits{});
    CHECK(parsed.problem);
    CHECK(parsed.body.empty());
  }
}

TEST_CASE("an event larger than the limit is ignored") {
  const std::string text = R"({"ref":")" + std::string(2000, 'a') + R"("})";
  const auto parsed = parse_event_argument(text, EventLimits{1024, 64});
  REQUIRE(parsed.problem);
  CHECK(parsed.problem->find("limit of 1024") != std::string::npos);
}

TEST_CASE("parsing keeps every field the resolver reads: pruned and full parses resolve alike") {
  for (const auto& name : coderun::testing::event_fixture_names()) {
    INFO(name);
    const auto text = coderun::testing::read_text(coderun::testing::fixtures_dir() +
                                                  "/github-events/" + name + ".json");
    const auto pruned = parse_event_argument(text, EventLimits{});
    const auto full = coderun::github::resolve_event(nlohmann::json::parse(text));
    const auto from_pruned = coderun::github::resolve_event(pruned.body);
    CHECK(from_pruned.event_type == full.event_type);
    CHECK(from_pruned.owner == full.owner);
    CHECK(from_pruned.repo == full.repo);
    CHECK(from_pruned.repo_full_name == full.repo_full_name);
    CHECK(from_pruned.ref == full.ref);
    CHECK(from_pruned.sha == full.sha);
    CHECK(from_pruned.pr_number == full.pr_number);
    CHECK(from_pruned.issue_number == full.issue_number);
    CHECK(from_pruned.head_repo_full_name == full.head_repo_full_name);
    CHECK(pruned.body.dump().size() < text.size() / 4);
  }
}
