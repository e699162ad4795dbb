#pragma once
#include "admission/review.h"
#include "decision/decide.h"
#include "kube/event_recorder.h"
#include "observability/json_log.h"
#include "observability/metrics.h"
#include "policy/policy_store.h"
#include "policy/prompt_catalog.h"

namespace coderun::service {

// The edge around the pure decision: takes the policy in force, decides, and reports the
// decision: a structured log line, metrics, Kubernetes Events (queued, never awaited). The
// transport calls handle(). metrics and events may be null (offline use, tests).
class WebhookService {
 public:
  WebhookService(policy::PolicyStore& policies, const policy::PromptCatalog& prompts,
                 const observability::JsonLog& log, observability::Metrics* metrics = nullptr,
                 kube::EventRecorder* events = nullptr);

  admission::Response handle(const admission::Request& request, decision::Phase phase);

 private:
  void report(const admission::Request& request, const decision::Decision& decision, decision::Phase phase,
              const policy::Policy& policy, std::chrono::microseconds latency);

  policy::PolicyStore& policies_;
  const policy::PromptCatalog& prompts_;
  const observability::JsonLog& log_;
  observability::Metrics* metrics_;
  kube::EventRecorder* events_;
};

}  // namespace coderun::service
