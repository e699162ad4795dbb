// Boundaries that `make mutation` showed no test held: each case fails with the off-by-one or the
// dropped rule in place (tests/mutation/mutations.txt: 7, 14, 18, 30, 40, 77).
#include <catch2/catch.hpp>
#include <string>

#include "decision/decide.h"
#include "github/safe_values.h"
#include "server/http_request_parser.h"
#include "test_support.h"

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
const FakePrompts kPrompts({"/etc/agents/rex_system-prompt.md"});

std::map<std::string, std::string> filled(const json& workflow) {
  const auto decision = decide(create_request(workflow), kPolicy, kPrompts, Phase::kMutate);
  REQUIRE(decision.response.allowed);
  const json result = workflow.patch(decision.response.patch_operations());
  std::map<std::string, std::string> out;
  for (const auto& parameter : result["spec"]["arguments"]["parameters"]) {
    if (parameter.contains("value") && parameter["value"].is_string())
      out[parameter["name"]] = parameter["value"];
  }
  return out;
}

}  // namespace

TEST_CASE("a negative event number is ignored; 0 is refused naming where it came from") {
  json event = read_event_fixture("pull_request.opened");
  event["pull_request"]["number"] = -2;
  const auto values = filled(workflow_with(params({{"github-app", "rex"}, {"event", event.dump()}})));
  CHECK(values.count("prNumber") == 0);
  CHECK(values.at("ref") == "changes");
  event["pull_request"]["number"] = 0;
  const auto decision =
      decide(create_request(workflow_with(params({{"github-app", "rex"}, {"event", event.dump()}}))),
             kPolicy, kPrompts, Phase::kMutate);
  CHECK(decision.response.message ==
        "Error: Invalid prNumber '0' (from event:.pull_request.number): is not a positive integer");
}

TEST_CASE("a repository named in another case is the event's repository (GitHub ignores case)") {
  const json workflow = workflow_with(
      params({{"github-app", "rex"},
              {"repoFullName", "codertocat/hello-world"},
              {"event", read_event_fixture("pull_request.opened").dump()}}));
  const auto decision = decide(create_request(workflow), kPolicy, kPrompts, Phase::kMutate);
  REQUIRE(decision.response.allowed);
  for (const auto& warning : decision.response.warnings)
    CHECK_THAT(warning, !Catch::Contains("the event is about"));
  const auto values = filled(workflow);
  CHECK(values.at("ref") == "changes");
  CHECK(values.at("sha") == "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
}

TEST_CASE("a value quoted in a denial is cut after exactly 80 characters") {
  const std::string ref = std::string(99, 'a') + "$";
  const auto decision = decide(
      create_request(workflow_with(params({{"github-app", "rex"}, {"repoFullName", "a/b"}, {"ref", ref}}))),
      kPolicy, kPrompts, Phase::kMutate);
  CHECK(decision.response.message == "Error: Invalid ref '" + std::string(80, 'a') +
                                         "...' (from parameter): contains '$', which a shell would act on");
}

TEST_CASE("each length bound lets its limit through and refuses one more") {
  using namespace coderun::github;
  CHECK_FALSE(check_repo(std::string(100, 'a')));
  CHECK(check_repo(std::string(101, 'a')));
  CHECK_FALSE(check_owner(std::string(39, 'a')));
  CHECK(check_owner(std::string(40, 'a')));
  CHECK_FALSE(check_ref(std::string(255, 'a')));
  CHECK(check_ref(std::string(256, 'a')));
  CHECK_FALSE(check_relative_path(std::string(4096, 'a')));
  CHECK(check_relative_path(std::string(4097, 'a')));
  CHECK_FALSE(check_number(std::string(18, '9')));
  CHECK(check_number(std::string(19, '9')));
}

TEST_CASE("every control character, to the edge of the range, is refused") {
  for (int c = 1; c < 0x20; ++c) {
    CAPTURE(c);
    CHECK(coderun::github::check_ref("a" + std::string(1, static_cast<char>(c)) + "b") ==
          "contains a control character");
  }
  CHECK(coderun::github::check_ref("a\x7f" "b") == "contains a control character");
  CHECK(coderun::github::check_ref("a b").has_value());  // space: a shell character
}

TEST_CASE("a complete request head one byte over the limit is refused with 431") {
  coderun::server::HttpLimits limits;
  limits.max_header_bytes = 256;
  std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
  const std::string end = "\r\n\r\n";
  head += std::string(limits.max_header_bytes + 1 - head.size() - end.size(), 'a') + end;
  REQUIRE(head.size() == limits.max_header_bytes + 1);
  coderun::server::HttpRequestParser over(limits);
  REQUIRE(over.parse(head) == coderun::server::HttpRequestParser::Status::kError);
  CHECK(over.error().status == 431);
  // At the limit exactly: read.
  std::string at = head;
  at.erase(at.find("X-Pad: ") + 7, 1);
  coderun::server::HttpRequestParser within(limits);
  CHECK(within.parse(at) != coderun::server::HttpRequestParser::Status::kError);
}
