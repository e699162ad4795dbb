#include "service/admission_events.h"

#include <catch2/catch.hpp>

#include "decision/decide.h"
#include "test_support.h"

using coderun::decision::decide;
using coderun::decision::Phase;
using coderun::service::events_for;
using coderun::testing::create_request;
using coderun::testing::FakePrompts;
using coderun::testing::read_event_fixture;
using coderun::testing::workflow_with;
using nlohmann::json;

namespace {
const coderun::policy::Policy kPolicy{};
const FakePrompts kPrompts({"/etc/agents/default_system-prompt.md"});

json params(const std::string& app, const std::string& event) {
  return coderun::testing::params({{"github-app", app}, {"event", event}});
}
}  // namespace

TEST_CASE("the validating pass reports what the mutating pass filled, on the final name") {
  const json workflow =
      workflow_with(params("rex", read_event_fixture("pull_request.opened").dump()));
  const auto mutated = decide(create_request(workflow), kPolicy, kPrompts, Phase::kMutate);
  CHECK(events_for(create_request(workflow), mutated, Phase::kMutate).empty());  // no name yet

  json stored = workflow.patch(mutated.response.patch_operations());
  stored["metadata"]["name"] = "coderun-x7k2p";  // given by the API server between the passes
  stored["metadata"]["uid"] = "6f1c2d3e-0000-4000-8000-000000000001";
  auto request = create_request(stored);
  request.name = "coderun-x7k2p";
  const auto validated = decide(request, kPolicy, kPrompts, Phase::kValidate);
  const auto events = events_for(request, validated, Phase::kValidate);
  REQUIRE(events.size() == 1);
  CHECK(events[0].reason == "Mutated");
  CHECK(events[0].type == "Normal");
  CHECK(events[0].regarding.name == "coderun-x7k2p");
  CHECK(events[0].regarding.kind == "Workflow");
  CHECK(events[0].regarding.api_version == "argoproj.io/v1alpha1");
  CHECK(events[0].regarding.namespace_name == "argo");
  CHECK(events[0].regarding.uid == "6f1c2d3e-0000-4000-8000-000000000001");
  // Posted only once the recorder finds this very object stored.
  REQUIRE(events[0].confirm);
  CHECK(events[0].confirm->path ==
        "/apis/argoproj.io/v1alpha1/namespaces/argo/workflows/coderun-x7k2p");
  CHECK(events[0].confirm->uid == "6f1c2d3e-0000-4000-8000-000000000001");
  CHECK_THAT(events[0].note,
             Catch::StartsWith("filled owner=Codertocat (event:.repository.owner.login)") &&
                 Catch::Contains("ref=changes (event:.pull_request.head.ref)") &&
                 !Catch::Contains("github-app"));
}

TEST_CASE("a denial on the mutating pass is reported against the generateName") {
  const json workflow = workflow_with(params("nobody", "{}"));
  const auto decision = decide(create_request(workflow), kPolicy, kPrompts, Phase::kMutate);
  const auto events = events_for(create_request(workflow), decision, Phase::kMutate);
  REQUIRE(events.size() == 1);
  CHECK(events[0].reason == "Denied");
  CHECK(events[0].type == "Warning");
  CHECK(events[0].regarding.name == "coderun-");
  CHECK_THAT(events[0].note, Catch::StartsWith("Error: Invalid github-app 'nobody'"));
  CHECK_FALSE(events[0].confirm);  // a refused object never exists: the refusal is the news
}

TEST_CASE("a denial on the validating pass is posted without waiting for the object") {
  json workflow = workflow_with(params("nobody", "{}"));
  workflow["metadata"]["name"] = "coderun-abcde";
  workflow["metadata"]["uid"] = "u-1";
  const auto decision = decide(create_request(workflow), kPolicy, kPrompts, Phase::kValidate);
  const auto events = events_for(create_request(workflow), decision, Phase::kValidate);
  REQUIRE(events.size() == 1);
  CHECK(events[0].reason == "Denied");
  CHECK_FALSE(events[0].confirm);
}

TEST_CASE("a malformed event is reported once, by the final pass") {
  json workflow = workflow_with(params("rex", "{oops"));
  workflow["spec"]["arguments"]["parameters"].push_back(
      {{"name", "repoFullName"}, {"value", "a/b"}});
  const auto mutated = decide(create_request(workflow), kPolicy, kPrompts, Phase::kMutate);
  CHECK(events_for(create_request(workflow), mutated, Phase::kMutate).empty());
  const json stored = workflow.patch(mutated.response.patch_operations());
  const auto validated = decide(create_request(stored), kPolicy, kPrompts, Phase::kValidate);
  const auto events = events_for(create_request(stored), validated, Phase::kValidate);
  REQUIRE(events.size() == 2);
  CHECK(events[0].reason == "EventParseFailed");
  CHECK(events[1].reason == "Mutated");
  CHECK(events[0].confirm);  // the object may still not be stored: both wait for it
  CHECK(events[1].confirm);
}

TEST_CASE("objects the webhook does not serve get no Events") {
  json workflow = workflow_with(json::array());
  workflow["spec"]["workflowTemplateRef"]["name"] = "other";
  const auto decision = decide(create_request(workflow), kPolicy, kPrompts, Phase::kValidate);
  CHECK(events_for(create_request(workflow), decision, Phase::kValidate).empty());
}

TEST_CASE("the Mutated note lists every field the log lists as filled, derived ones included") {
  for (const std::string& event :
       std::vector<std::string>{"{not json", "{}", read_event_fixture("push.branch").dump()}) {
    CAPTURE(event.substr(0, 20));
    const json workflow = workflow_with(coderun::testing::params(
        {{"github-app", "rex"}, {"repoFullName", "octo/hello"}, {"event", event}}));
    const auto mutated = decide(create_request(workflow), kPolicy, kPrompts, Phase::kMutate);
    REQUIRE(mutated.response.allowed);
    REQUIRE_FALSE(mutated.resolution.to_fill.empty());
    json stored = workflow.patch(mutated.response.patch_operations());
    stored["metadata"]["name"] = "coderun-1";
    auto request = create_request(stored);
    request.name = "coderun-1";
    const auto validated = decide(request, kPolicy, kPrompts, Phase::kValidate);
    std::string note;
    for (const auto& event_record : events_for(request, validated, Phase::kValidate)) {
      if (event_record.reason == "Mutated") note = event_record.note;
    }
    for (const auto& field : mutated.resolution.to_fill) {
      CAPTURE(field);
      CHECK_THAT(note, Catch::Contains(" " + field + "=") || Catch::StartsWith("filled " + field));
    }
    CHECK_THAT(note, !Catch::Contains("repoFullName=") && !Catch::Contains("github-app"));
  }
}
