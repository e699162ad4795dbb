#include "observability/metrics.h"

#include <catch2/catch.hpp>

using coderun::observability::Metrics;

TEST_CASE("metrics render in the Prometheus text format") {
  Metrics metrics;
  metrics.admission("mutate", "Workflow", "rex", "mutated", std::chrono::microseconds(300));
  metrics.admission("mutate", "Workflow", "rex", "mutated", std::chrono::microseconds(200));
  metrics.value_resolved("ref", "event");
  metrics.event("posted");
  metrics.policy_reload("rejected");
  metrics.certificate_expiry(
      std::chrono::system_clock::time_point(std::chrono::seconds(1800000000)));
  {
    Metrics::InFlight one(metrics);
    CHECK_THAT(metrics.render(), Catch::Contains("coderun_webhook_requests_in_flight 1"));
  }
  const std::string text = metrics.render();
  CHECK_THAT(text, Catch::Contains("# TYPE coderun_webhook_admission_requests_total counter"));
  CHECK_THAT(text, Catch::Contains("coderun_webhook_admission_requests_total{app=\"rex\",decision="
                                   "\"mutated\",endpoint=\"mutate\",kind=\"Workflow\"} 2"));
  CHECK_THAT(text, Catch::Contains(
                       "coderun_webhook_admission_duration_seconds_count{endpoint=\"mutate\"} 2"));
  CHECK_THAT(text, Catch::Contains(
                       "coderun_webhook_values_resolved_total{field=\"ref\",source=\"event\"} 1"));
  CHECK_THAT(text, Catch::Contains("coderun_webhook_kube_events_total{outcome=\"dropped\"} 0"));
  CHECK_THAT(text, Catch::Contains("coderun_webhook_policy_reloads_total{result=\"rejected\"} 1"));
  CHECK_THAT(text,
             Catch::Contains("coderun_webhook_certificate_expiry_timestamp_seconds 1800000000"));
  CHECK_THAT(text, Catch::Contains("coderun_webhook_requests_in_flight 0"));
}

TEST_CASE("policy reload failure is a gauge that stays 0 until a reload succeeds") {
  Metrics metrics;
  // The webhook serves only once a policy has loaded, so the gauge starts at 1.
  CHECK_THAT(metrics.render(),
             Catch::Contains("coderun_webhook_policy_last_reload_successful 1"));
  metrics.policy_reload("rejected");
  std::string text = metrics.render();
  CHECK_THAT(text, Catch::Contains("coderun_webhook_policy_last_reload_successful 0"));
  CHECK_THAT(text, Catch::Contains("coderun_webhook_policy_reloads_total{result=\"rejected\"} 1"));
  metrics.policy_reload("success");
  text = metrics.render();
  CHECK_THAT(text, Catch::Contains("coderun_webhook_policy_last_reload_successful 1"));
  CHECK_THAT(text, Catch::Contains("coderun_webhook_policy_reloads_total{result=\"success\"} 1"));
}

TEST_CASE("latency buckets reach the webhooks' 5 s timeout") {
  Metrics metrics;
  metrics.admission("mutate", "Workflow", "rex", "mutated", std::chrono::milliseconds(1500));
  const std::string text = metrics.render();
  // 1.5 s lies above the latency alert's 1 s budget: it must land in a finite bucket above 1.
  CHECK_THAT(text, Catch::Contains(
                       "coderun_webhook_admission_duration_seconds_bucket{endpoint=\"mutate\",le=\"1\"} 0"));
  CHECK_THAT(text, Catch::Contains("coderun_webhook_admission_duration_seconds_bucket{endpoint=\"mutate\","
                                   "le=\"2.5\"} 1"));
  CHECK_THAT(text, Catch::Contains(
                       "coderun_webhook_admission_duration_seconds_bucket{endpoint=\"mutate\",le=\"5\"} 1"));
}
