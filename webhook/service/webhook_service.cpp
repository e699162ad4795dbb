#include "service/webhook_service.h"

#include <chrono>
#include <optional>

#include "service/admission_events.h"

namespace coderun::service {
namespace {

const char* phase_name(decision::Phase phase) {
  return phase == decision::Phase::kMutate ? "mutate" : "validate";
}

// event:.x -> event, parameter:repoFullName -> parameter, spec -> parameter, prompts:rex -> prompts
std::string source_class(const std::string& source) {
  const std::string head = source.substr(0, source.find(':'));
  return head == "spec" ? "parameter" : head;
}

// User-chosen text never becomes a label value: unknown apps are counted as "invalid".
std::string app_label(const decision::Decision& decision, const policy::Policy& policy) {
  if (!decision.served) return "";
  return policy.allows_app(decision.resolution.app) ? decision.resolution.app : "invalid";
}

}  // namespace

WebhookService::WebhookService(policy::PolicyStore& policies, const policy::PromptCatalog& prompts,
                               const observability::JsonLog& log, observability::Metrics* metrics,
                               kube::EventRecorder* events, ClusterSource cluster)
    : policies_(policies),
      prompts_(prompts),
      log_(log),
      metrics_(metrics),
      events_(events),
      cluster_(std::move(cluster)) {}

admission::Response WebhookService::handle(const admission::Request& request,
                                           decision::Phase phase) {
  std::optional<observability::Metrics::InFlight> in_flight;
  if (metrics_) in_flight.emplace(*metrics_);
  const auto start = std::chrono::steady_clock::now();
  const Prepared current = prepared();
  const policy::Policy& policy = *current.policy;
  const auto cluster = cluster_ ? cluster_() : nullptr;
  decision::Decision decision =
      decision::decide(request, policy, prompts_, phase, current.plumbing.get(), cluster.get());
  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  report(request, decision, phase, policy, latency);
  return std::move(decision.response);
}

WebhookService::Prepared WebhookService::prepared() {
  auto policy = policies_.current();
  std::lock_guard lock(prepared_mutex_);
  if (prepared_.policy != policy) {
    prepared_.plumbing = std::make_shared<const decision::PodPlumbing>(*policy);
    prepared_.policy = std::move(policy);
  }
  return prepared_;
}

void WebhookService::report(const admission::Request& request, const decision::Decision& decision,
                            decision::Phase phase, const policy::Policy& policy,
                            std::chrono::microseconds latency) {
  const auto& resolution = decision.resolution;
  if (metrics_) {
    metrics_->admission(phase_name(phase), decision.served ? request.kind.kind : "other",
                        app_label(decision, policy), decision.outcome, latency);
    if (phase == decision::Phase::kMutate && decision.response.allowed) {
      for (const auto& [field, value] : resolution.values)
        metrics_->value_resolved(field, source_class(value.source));
    }
    // Both passes check access; count it once, in the pass that ends the request.
    if (decision.access && (phase == decision::Phase::kValidate || !decision.response.allowed))
      metrics_->access_decision(decision.access->mode, decision.access->result);
  }
  if (events_ && !request.dry_run) {
    for (auto& event : events_for(request, decision, phase)) events_->record(std::move(event));
  }
  const auto level = decision.outcome == "denied" ? observability::JsonLog::Level::kWarn
                     : decision.served            ? observability::JsonLog::Level::kInfo
                                                  : observability::JsonLog::Level::kDebug;
  if (!log_.enabled(level)) return;
  nlohmann::json fields = {{"uid", request.uid},
                           {"phase", phase_name(phase)},
                           {"kind", request.kind.kind},
                           {"namespace", request.namespace_name},
                           {"name", request.name},
                           {"decision", decision.outcome},
                           {"latency_us", latency.count()},
                           {"dry_run", request.dry_run}};
  if (decision.served) {
    fields["app"] = resolution.app;
    if (const auto* repo = resolution.find("repoFullName")) fields["repo"] = repo->value;
    if (!decision.rule.empty()) fields["rule"] = decision.rule;
    if (decision.access) {
      fields["access"] = decision.access->result;
      fields["user"] = request.user_info.username;
      if (!decision.access->rule.empty()) fields["access_rule"] = decision.access->rule;
      if (decision.access->result == "would-deny") fields["access_reason"] = decision.access->message;
    }
    if (!decision.response.allowed) fields["message"] = decision.response.message;
    if (!decision.response.warnings.empty()) fields["warnings"] = decision.response.warnings;
    if (!resolution.to_fill.empty() && phase == decision::Phase::kMutate)
      fields["filled"] = resolution.to_fill;
  }
  log_.log(level, "admission", fields);
}

}  // namespace coderun::service
