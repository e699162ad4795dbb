#pragma once
#include "admission/review.h"
#include "decision/decide.h"
#include "observability/json_log.h"
#include "policy/policy_store.h"
#include "policy/prompt_catalog.h"

namespace coderun::service {

// The edge around the pure decision: takes the policy in force, decides, and reports the
// decision (structured log; Events and metrics hook in here). The transport calls handle().
class WebhookService {
 public:
  WebhookService(policy::PolicyStore& policies, const policy::PromptCatalog& prompts,
                 const observability::JsonLog& log);

  admission::Response handle(const admission::Request& request, decision::Phase phase);

 private:
  policy::PolicyStore& policies_;
  const policy::PromptCatalog& prompts_;
  const observability::JsonLog& log_;
};

}  // namespace coderun::service
