#include "service/webhook_service.h"

#include <chrono>

namespace coderun::service {

WebhookService::WebhookService(policy::PolicyStore& policies, const policy::PromptCatalog& prompts,
                               const observability::JsonLog& log)
    : policies_(policies), prompts_(prompts), log_(log) {}

admission::Response WebhookService::handle(const admission::Request& request,
                                           decision::Phase phase) {
  const auto start = std::chrono::steady_clock::now();
  const auto policy = policies_.current();
  decision::Decision decision = decision::decide(request, *policy, prompts_, phase);
  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);

  const auto level = decision.outcome == "denied" ? observability::JsonLog::Level::kWarn
                     : decision.served           ? observability::JsonLog::Level::kInfo
                                                 : observability::JsonLog::Level::kDebug;
  if (log_.enabled(level)) {
    nlohmann::json fields = {
        {"uid", request.uid},
        {"phase", phase == decision::Phase::kMutate ? "mutate" : "validate"},
        {"kind", request.kind.kind},
        {"namespace", request.namespace_name},
        {"name", request.name},
        {"decision", decision.outcome},
        {"latency_us", latency.count()},
        {"dry_run", request.dry_run}};
    if (decision.served) {
      fields["app"] = decision.resolution.app;
      if (const auto* repo = decision.resolution.find("repoFullName")) fields["repo"] = repo->value;
      if (!decision.rule.empty()) fields["rule"] = decision.rule;
      if (!decision.response.allowed) fields["message"] = decision.response.message;
      if (!decision.response.warnings.empty()) fields["warnings"] = decision.response.warnings;
      if (!decision.resolution.to_fill.empty()) fields["filled"] = decision.resolution.to_fill;
    }
    log_.log(level, "admission", fields);
  }
  return std::move(decision.response);
}

}  // namespace coderun::service
