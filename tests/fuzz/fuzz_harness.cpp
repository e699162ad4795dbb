#include "fuzz_harness.h"

#include <cstdlib>
#include <string>
#include <string_view>

#include "admission/review.h"
#include "decision/decide.h"
#include "decision/run_inputs.h"
#include "github/event_parser.h"
#include "github/event_resolver.h"
#include "util/json_text.h"

namespace coderun::fuzzing {
namespace {

using nlohmann::json;

class AllPrompts final : public policy::PromptCatalog {
 public:
  bool exists(const std::string& pods_dir, std::string_view) const override {
    return pods_dir == "/etc/agents";
  }
};

[[noreturn]] void broken(const char* invariant);

// The answer sent to the API server must be valid JSON whatever the input.
void check_encodes(const admission::Response& response, const std::string& api_version) {
  if (!json::accept(admission::encode_review(response, api_version)))
    broken("the answer is valid JSON");
}

[[noreturn]] void broken(const char* invariant) {
  std::fprintf(stderr, "invariant broken: %s\n", invariant);
  std::abort();
}

admission::Request create(json object) {
  admission::Request request;
  request.uid = "fuzz";
  request.review_api_version = "admission.k8s.io/v1";
  const std::string api_version = object.value("apiVersion", "");
  request.kind = {api_version.substr(0, api_version.find('/')), "v1", object.value("kind", "")};
  request.operation = "CREATE";
  request.namespace_name = "fuzz";
  request.object = std::move(object);
  return request;
}

// Mutate, apply the patch, mutate again: the second patch must be empty; both passes agree.
void mutate_twice(const json& object, const policy::Policy& policy, const AllPrompts& prompts) {
  const auto first = decision::decide(create(object), policy, prompts, decision::Phase::kMutate);
  check_encodes(first.response, "admission.k8s.io/v1");
  if (!first.response.allowed) return;
  json patched;
  try {
    patched = object.patch(first.response.patch_operations());
  } catch (const json::exception&) {
    broken("the patch applies to the object it was made for");
  }
  const auto second = decision::decide(create(patched), policy, prompts, decision::Phase::kMutate);
  if (!second.response.patch.empty()) broken("mutating the mutated object changes nothing");
  const auto validated =
      decision::decide(create(patched), policy, prompts, decision::Phase::kValidate);
  if (validated.response.allowed != second.response.allowed) broken("the validating pass agrees");
}

}  // namespace

void fuzz_one(const uint8_t* data, size_t size) {
  static const policy::Policy policy;  // workflowPlumbing: none, the default
  // workflowPlumbing: podSpecPatch: a Workflow's podSpecPatch is read and merged into.
  static const policy::Policy pod_spec_patch_policy = [] {
    policy::Policy p;
    p.workflow_plumbing = policy::WorkflowPlumbing::kPodSpecPatch;
    return p;
  }();
  static const AllPrompts prompts;
  const std::string input(reinterpret_cast<const char*>(data), size);

  // The two JSON engines agree: whatever the DOM (the fast path) reads, On-Demand reads the same.
  for (const util::JsonKeep* keep : {static_cast<const util::JsonKeep*>(nullptr),
                                     &decision::run_object_fields(), &github::event_fields()}) {
    if (const auto dom = util::detail::parse_with_dom(input, 64, keep, 100'000)) {
      const auto on_demand = util::detail::parse_on_demand(input, 64, keep, 100'000);
      if (!on_demand.value || *on_demand.value != *dom) broken("the DOM and On-Demand agree");
    }
  }

  // As the server reads reviews: only what the decision reads of the object is built.
  admission::ReviewLimits limits;
  limits.object_fields = &decision::run_object_fields();
  const auto parsed = admission::parse_review(input, limits);
  if (const auto* request = std::get_if<admission::Request>(&parsed)) {
    for (const auto* each : {&policy, &pod_spec_patch_policy}) {
      for (const auto phase : {decision::Phase::kMutate, decision::Phase::kValidate}) {
        const auto decision = decision::decide(*request, *each, prompts, phase);
        check_encodes(decision.response, request->review_api_version);
      }
    }
  }

  const json workflow = {{"apiVersion", "argoproj.io/v1alpha1"},
                         {"kind", "Workflow"},
                         {"metadata", {{"generateName", "fuzz-"}}},
                         {"spec",
                          {{"workflowTemplateRef", {{"name", "coderun-template"}}},
                           {"arguments",
                            {{"parameters",
                              {{{"name", "github-app"}, {"value", "rex"}},
                               {{"name", "event"}, {"value", input}}}}}}}}};
  mutate_twice(workflow, policy, prompts);
  mutate_twice(workflow, pod_spec_patch_policy, prompts);
  const json coderun = {{"apiVersion", "taskmaster.io/v1"},
                        {"kind", "CodeRun"},
                        {"metadata", {{"generateName", "fuzz-"}}},
                        {"spec", {{"github", {{"appName", "rex"}}}, {"event", input}}}};
  mutate_twice(coderun, policy, prompts);

  const auto event = github::parse_event_argument(input, github::EventLimits{});
  github::resolve_event(event.body, event.event_type);
}

}  // namespace coderun::fuzzing
