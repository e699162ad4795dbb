#include "decision/decide.h"

#include "decision/json_patch_builder.h"
#include "decision/metadata_mutation.h"
#include "decision/run_inputs.h"
#include "decision/workflow_mutation.h"
#include "util/json_text.h"

namespace coderun::decision {
namespace {

std::string sources_text(const RunResolution& resolution) {
  std::string text;
  for (const auto& [field, value] : resolution.values) {
    text += (text.empty() ? "" : ",") + field + "=" + value.source;
  }
  return text;
}

Decision ignored(const admission::Request& request) {
  Decision decision;
  decision.response = admission::Response::allow(request.uid);
  decision.outcome = "ignored";
  return decision;
}

}  // namespace

Decision decide(const admission::Request& request, const policy::Policy& policy,
                const policy::PromptCatalog& prompts, Phase phase) {
  const auto kind = run_kind_of(request.kind.group, request.kind.kind);
  if (!kind || request.operation != "CREATE") return ignored(request);
  if (!request.object) {
    Decision decision;
    decision.served = true;
    decision.kind = *kind;
    decision.outcome = "denied";
    decision.rule = "request";
    decision.response = admission::Response::deny(request.uid, "request.object is missing or not an object", 400);
    return decision;
  }
  const nlohmann::json& object = *request.object;
  if (*kind == RunKind::kWorkflow && !workflow_is_served(object, policy.workflow_templates)) {
    return ignored(request);
  }

  Decision decision;
  decision.served = true;
  decision.kind = *kind;
  if (const auto* spec = member(&object, "spec"); spec != nullptr && !spec->is_object()) {
    decision.outcome = "denied";
    decision.rule = "request";
    decision.response = admission::Response::deny(
        request.uid, std::string(to_string(*kind)) + " spec must be an object", 400);
    return decision;
  }

  const RunInputs inputs = workflow_inputs(object);
  decision.resolution = resolve_run(inputs, policy, prompts);
  const RunResolution& resolution = decision.resolution;

  admission::Response& response = decision.response;
  response.uid = request.uid;
  response.warnings = resolution.warnings;
  response.audit_annotations["github-app"] = resolution.app;
  if (const auto* repo = resolution.find("repoFullName")) response.audit_annotations["repo"] = repo->value;
  if (!resolution.event_type.empty()) response.audit_annotations["event-type"] = resolution.event_type;

  if (resolution.denial) {
    response = admission::Response::deny(request.uid, resolution.denial->message, 403);
    response.warnings = resolution.warnings;
    response.audit_annotations = {{"decision", "denied"},
                                  {"rule", resolution.denial->rule},
                                  {"github-app", resolution.app}};
    decision.outcome = "denied";
    decision.rule = resolution.denial->rule;
    return decision;
  }
  response.audit_annotations["sources"] = sources_text(resolution);

  if (phase == Phase::kValidate) {
    decision.outcome = "validated";
    response.audit_annotations["decision"] = "allowed";
    return decision;
  }
  JsonPatchBuilder patch;
  add_workflow_parameters(patch, object, resolution);
  add_metadata(patch, object, resolution);
  decision.outcome = patch.empty() ? "unchanged" : "mutated";
  response.audit_annotations["decision"] = decision.outcome;
  response.patch = patch.take();
  return decision;
}

}  // namespace coderun::decision
