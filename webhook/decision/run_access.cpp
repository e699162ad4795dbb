#include "decision/run_access.h"

namespace coderun::decision {
namespace {

bool carries_workflow_label(const nlohmann::json& object) {
  const auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return false;
  const auto labels = metadata->find("labels");
  if (labels == metadata->end() || !labels->is_object()) return false;
  const auto label = labels->find(kWorkflowLabel);
  return label != labels->end() && label->is_string() && !label->get<std::string>().empty();
}

std::string short_subject(const admission::UserInfo& user) {
  if (!user.service_account.empty()) return "service account " + user.service_account;
  return "user " + (user.username.empty() ? std::string("(unknown)") : user.username);
}

}  // namespace

std::optional<AccessOutcome> check_run_access(const admission::Request& request,
                                              const policy::Policy& policy, RunKind kind,
                                              const nlohmann::json& object,
                                              const RunResolution& resolution) {
  if (!policy.access || resolution.denial) return std::nullopt;
  const Sourced* repository = resolution.find("repoFullName");
  if (repository == nullptr) return std::nullopt;  // resolve_run denies that already
  const Sourced* ref = resolution.find("ref");
  const policy::AccessRequest access_request{request.user_info,
                                             request.namespace_name,
                                             resolution.app,
                                             repository->value,
                                             ref != nullptr ? std::string_view(ref->value) : "",
                                             kind == RunKind::kWorkflow,
                                             carries_workflow_label(object)};
  const auto verdict = policy::check_access(*policy.access, access_request);
  const bool audit = policy.access->mode == policy::AccessMode::kAudit;
  AccessOutcome outcome;
  outcome.mode = audit ? "audit" : "enforce";
  if (verdict.allowed) {
    outcome.result = "allowed";
    outcome.rule = verdict.rule;
    return outcome;
  }
  outcome.result = audit ? "would-deny" : "denied";
  outcome.message = verdict.message;
  outcome.warning = "access audit: would deny " + short_subject(request.user_info) + " " +
                    resolution.app + " for " + repository->value;
  return outcome;
}

}  // namespace coderun::decision
