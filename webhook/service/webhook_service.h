#pragma once
#include <functional>
#include <memory>
#include <mutex>

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
  // The cluster's state now, taken once per request (an immutable snapshot); empty: no cluster.
  using ClusterSource = std::function<std::shared_ptr<const cluster::ClusterView>()>;

  WebhookService(policy::PolicyStore& policies, const policy::PromptCatalog& prompts,
                 const observability::JsonLog& log, observability::Metrics* metrics = nullptr,
                 kube::EventRecorder* events = nullptr, ClusterSource cluster = {});

  admission::Response handle(const admission::Request& request, decision::Phase phase);

 private:
  void report(const admission::Request& request, const decision::Decision& decision,
              decision::Phase phase, const policy::Policy& policy,
              std::chrono::microseconds latency);

  struct Prepared {
    std::shared_ptr<const policy::Policy> policy;
    std::shared_ptr<const decision::PodPlumbing> plumbing;  // built from *policy
  };
  // The policy in force and its pod plumbing, rebuilt when the policy is reloaded.
  Prepared prepared();

  policy::PolicyStore& policies_;
  std::mutex prepared_mutex_;
  Prepared prepared_;
  const policy::PromptCatalog& prompts_;
  const observability::JsonLog& log_;
  observability::Metrics* metrics_;
  kube::EventRecorder* events_;
  ClusterSource cluster_;
};

}  // namespace coderun::service
