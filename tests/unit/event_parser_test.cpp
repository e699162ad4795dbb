#include <catch2/catch.hpp>

#include "github/event_parser.h"
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
    nlohmann::json envelope = {{key, {{"X-Github-Event", {"issues"}}, {"Content-Type", {"application/json"}}}},
                               {"body", body}};
    const auto parsed = parse_event_argument(envelope.dump(), EventLimits{});
    CHECK(parsed.envelope);
    CHECK(parsed.event_type == "issues");
    CHECK(parsed.body == body);
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
  const std::vector<std::string> bad = {"{", "not json", "[1,2]", "42", "\"text\"", "null",
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
