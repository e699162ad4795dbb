#include "decision/decide.h"

#include "decision/agent_run_mutation.h"
#include "decision/json_patch_builder.h"
#include "decision/metadata_mutation.h"
#include "decision/run_inputs.h"
#include "decision/token_secrets.h"
#include "decision/workflow_mutation.h"
#include "schemas/embedded_schemas.h"
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

// The final CodeRun/DocsRun against policy/coderun.schema.json or docsrun.schema.json.
std::optional<Denial> schema_denial(const nlohmann::json& object, RunKind kind) {
  const auto& schema = kind == RunKind::kDocsRun ? schemas::docsrun() : schemas::coderun();
  const auto violations = schema.validate(object);
  if (violations.empty()) return std::nullopt;
  return Denial{"Error: " + std::string(to_string(kind)) + " is invalid at " +
                    violations.front().path + ": " + violations.front().rule,
                "schema"};
}

// An UPDATE that leaves every guarded part as it was (the controller's status and label updates,
// `argo stop`, `argo suspend`...) is admitted at once, without the policy: a run admitted under
// an older policy can still be stopped. One that changes them is decided as a CREATE is, so a
// patched github-app or ref meets the same checks, and what an update removed is filled again.
bool unguarded_update(const admission::Request& request) {
  return request.operation == "UPDATE" && request.object && request.old_object &&
         util::equal_as_kept(*request.old_object, *request.object, guarded_run_fields());
}

// The event a run was admitted for cannot be swapped on an update: the values filled from it are
// stored as the run's own and cannot be told apart from the user's afterwards, so a new event
// would sit beside values that describe the old one.
bool event_replaced(const nlohmann::json& old_object, const RunInputs& inputs, RunKind kind) {
  const RunInputs before =
      kind == RunKind::kWorkflow ? workflow_inputs(old_object) : agent_run_inputs(old_object, kind);
  return before.event_text != inputs.event_text || before.event_object != inputs.event_object;
}

Decision ignored(const admission::Request& request) {
  Decision decision;
  decision.response = admission::Response::allow(request.uid);
  decision.outcome = "ignored";
  return decision;
}

}  // namespace

Decision decide(const admission::Request& request, const policy::Policy& policy,
                const policy::PromptCatalog& prompts, Phase phase, const PodPlumbing* plumbing,
                const cluster::ClusterView* cluster) {
  const auto kind = run_kind_of(request.kind.group, request.kind.kind);
  if (!kind || (request.operation != "CREATE" && request.operation != "UPDATE") ||
      unguarded_update(request)) {
    return ignored(request);
  }
  if (!request.object) {
    Decision decision;
    decision.served = true;
    decision.kind = *kind;
    decision.outcome = "denied";
    decision.rule = "request";
    decision.response =
        request.object_problem.empty()
            ? admission::Response::deny(request.uid, "request.object is missing or not an object",
                                        400)
            : admission::Response::deny(request.uid, "Error: " + request.object_problem, 413);
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

  const RunInputs inputs =
      *kind == RunKind::kWorkflow ? workflow_inputs(object) : agent_run_inputs(object, *kind);
  if (request.operation == "UPDATE" && request.old_object &&
      event_replaced(*request.old_object, inputs, *kind)) {
    decision.outcome = "denied";
    decision.rule = "event-immutable";
    decision.response = admission::Response::deny(
        request.uid,
        "Error: the event of a " + std::string(to_string(*kind)) +
            " cannot be changed once it is created: the values filled from it would no longer "
            "match it; submit a new run for the new event");
    return decision;
  }
  decision.resolution = resolve_run(inputs, policy, prompts,
                                    cluster_context(cluster, request.namespace_name, policy));
  RunResolution& resolution = decision.resolution;
  // After the repository is known and safe, before anything is built: a run the access rules
  // refuse gets no patch (and so no token initContainer).
  if (!resolution.denial) {
    if (const auto secret = foreign_token_secret(object, *kind, policy.token, resolution.app)) {
      resolution.denial = Denial{
          "Error: the " + std::string(to_string(*kind)) + " reads Secret " + *secret +
              ", the token of another app than its github-app '" + resolution.app +
              "': a run may mint only its own app's token (remove that reference; the webhook "
              "adds the " + policy.token.container_name + " initContainer for '" + resolution.app +
              "')",
          "token-secret"};
    }
  }
  decision.access = check_run_access(request, policy, *kind, object, resolution);
  if (decision.access && decision.access->result == "denied") {
    resolution.denial = Denial{decision.access->message, "access"};
  } else if (decision.access && decision.access->result == "would-deny") {
    resolution.warnings.push_back(decision.access->warning);
  }

  // Build the patch first: an agent run is checked against its schema as it will be stored.
  JsonPatchBuilder patch;
  if (!resolution.denial && phase == Phase::kMutate) {
    std::optional<PodPlumbing> built;
    if (plumbing == nullptr) plumbing = &built.emplace(policy);
    if (*kind == RunKind::kWorkflow) {
      add_workflow_parameters(patch, object, resolution);
      // workflowPlumbing none: no spec.volumes, no spec.podSpecPatch (Argo's templateReferencing
      // Strict/Secure refuses both); the user's own are not read, so never refused nor changed.
      if (policy.workflow_plumbing == policy::WorkflowPlumbing::kPodSpecPatch)
        add_workflow_pod_plumbing(patch, object, resolution, *plumbing);
    } else {
      add_agent_run_spec(patch, object, resolution, policy, *plumbing, *kind);
    }
    add_metadata(patch, object, resolution);
  }
  if (!resolution.denial && *kind != RunKind::kWorkflow) {
    resolution.denial =
        schema_denial(patch.empty() ? object : object.patch(patch.operations()), *kind);
  }

  admission::Response& response = decision.response;
  response.uid = request.uid;
  // Bounded here, not only on the wire: the log line and the Event carry them too.
  response.warnings = admission::bounded_warnings(resolution.warnings);
  response.audit_annotations["github-app"] = resolution.app;
  if (const auto* repo = resolution.find("repoFullName"))
    response.audit_annotations["repo"] = repo->value;
  if (!resolution.event_type.empty())
    response.audit_annotations["event-type"] = resolution.event_type;
  if (decision.access && decision.access->result != "denied") {
    response.audit_annotations["access"] = decision.access->result;
    if (!decision.access->rule.empty())
      response.audit_annotations["access-rule"] = decision.access->rule;
    if (!decision.access->message.empty())
      response.audit_annotations["access-reason"] = decision.access->message;
  }

  if (resolution.denial) {
    response = admission::Response::deny(request.uid, resolution.denial->message, 403);
    response.warnings = admission::bounded_warnings(resolution.warnings);
    response.audit_annotations = {
        {"decision", "denied"}, {"rule", resolution.denial->rule}, {"github-app", resolution.app}};
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
  decision.outcome = patch.empty() ? "unchanged" : "mutated";
  response.audit_annotations["decision"] = decision.outcome;
  response.patch = patch.text();
  return decision;
}

}  // namespace coderun::decision
