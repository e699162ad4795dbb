#include "observability/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace coderun::observability {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 5};
// (2.5 and 5: the webhooks' timeoutSeconds is 5, so a p99 near it must be visible, and the
// latency alert's budget of 1 s must lie below the last finite bucket to be able to fire.)

std::string text(std::string_view value) { return std::string(value); }

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(BuildCounter()
                    .Name("coderun_webhook_admission_requests_total")
                    .Help("Admission requests by endpoint, kind, GitHub App and decision")
                    .Register(*registry_)),
      bad_requests_(
          BuildCounter()
              .Name("coderun_webhook_bad_requests_total")
              .Help("Requests refused before a decision (HTTP 4xx), by endpoint and status")
              .Register(*registry_)),
      latency_(BuildHistogram()
                   .Name("coderun_webhook_admission_duration_seconds")
                   .Help("Time to decide an admission request, by endpoint")
                   .Register(*registry_)),
      in_flight_(BuildGauge()
                     .Name("coderun_webhook_requests_in_flight")
                     .Help("Admission requests being decided")
                     .Register(*registry_)
                     .Add({})),
      resolved_(BuildCounter()
                    .Name("coderun_webhook_values_resolved_total")
                    .Help("Values a run ended up with, by field and source (event, parameter, "
                          "default, prompts)")
                    .Register(*registry_)),
      events_(BuildCounter()
                  .Name("coderun_webhook_kube_events_total")
                  .Help("Kubernetes Events by outcome (posted, failed, dropped, unstored: the "
                        "object was never stored, throttled: too many for one object)")
                  .Register(*registry_)),
      access_decisions_(BuildCounter()
                            .Name("coderun_webhook_access_decisions_total")
                            .Help("Runs checked against the policy's access rules, by mode "
                                  "(enforce, audit) and result (allowed, denied, would-deny)")
                            .Register(*registry_)),
      policy_reloads_(BuildCounter()
                          .Name("coderun_webhook_policy_reloads_total")
                          .Help("Policy file reloads by result (success, rejected)")
                          .Register(*registry_)),
      policy_last_reload_successful_(
          BuildGauge()
              .Name("coderun_webhook_policy_last_reload_successful")
              .Help("1 if the policy file in force is the one on disk, 0 while the last reload "
                    "was rejected and the last good policy stays in force")
              .Register(*registry_)
              .Add({})),
      certificate_reloads_(BuildCounter()
                               .Name("coderun_webhook_certificate_reloads_total")
                               .Help("Serving certificate reloads by result (success, rejected)")
                               .Register(*registry_)),
      certificate_expiry_(BuildGauge()
                              .Name("coderun_webhook_certificate_expiry_timestamp_seconds")
                              .Help("notAfter of the serving certificate, as a Unix time")
                              .Register(*registry_)
                              .Add({})),
      connections_(BuildGauge()
                       .Name("coderun_webhook_connections")
                       .Help("Open connections to the admission port")
                       .Register(*registry_)
                       .Add({})),
      dropped_connections_(
          BuildCounter()
              .Name("coderun_webhook_connections_dropped_total")
              .Help("Connections the server closed by reason: timeout (a request, or its answer, "
                    "took longer than its timeout), limit (over --max-connections)")
              .Register(*registry_)),
      tls_handshake_failures_(BuildCounter()
                                  .Name("coderun_webhook_tls_handshake_failures_total")
                                  .Help("TLS handshakes that failed with a protocol error or an "
                                        "alert (a client not trusting the certificate: check "
                                        "the caBundle)")
                                  .Register(*registry_)
                                  .Add({})),
      cluster_state_age_(BuildGauge()
                             .Name("coderun_webhook_cluster_state_age_seconds")
                             .Help("Seconds since the cluster state was last known live (0 "
                                   "while every watch works; growing while the API server is "
                                   "unreachable and the last known state is used)")
                             .Register(*registry_)
                             .Add({})),
      cluster_objects_(BuildGauge()
                           .Name("coderun_webhook_cluster_state_objects")
                           .Help("Namespaces, ConfigMaps and Secrets (metadata) in the cluster "
                                 "state cache")
                           .Register(*registry_)
                           .Add({})),
      cluster_synced_(BuildGauge()
                          .Name("coderun_webhook_cluster_state_synced")
                          .Help("1 once every watched kind has been listed, 0 before")
                          .Register(*registry_)
                          .Add({})),
      cluster_watch_restarts_(BuildCounter()
                                  .Name("coderun_webhook_cluster_watch_restarts_total")
                                  .Help("Cluster-state watches broken and restarted, by reason "
                                        "(expired: 410 Gone, listed again; error)")
                                  .Register(*registry_)) {
  for (const char* reason : {"expired", "error"}) cluster_watch_restarts_.Add({{"reason", reason}});
  for (const char* reason : {"timeout", "limit"}) dropped_connections_.Add({{"reason", reason}});
  for (const char* outcome : {"posted", "failed", "dropped", "unstored", "throttled"})
    events_.Add({{"outcome", outcome}});
  for (const char* result : {"success", "rejected"}) {
    policy_reloads_.Add({{"result", result}});
    certificate_reloads_.Add({{"result", result}});
  }
  policy_last_reload_successful_.Set(1);  // serve starts only with a valid policy
}

Metrics::~Metrics() = default;

template <typename Metric, typename Create>
Metric& Metrics::series(SeriesCache& cache, std::string_view key, Create create) {
  const std::lock_guard lock(cache.mutex);
  if (const auto found = cache.series.find(key); found != cache.series.end()) {
    return *static_cast<Metric*>(found->second);
  }
  Metric& created = create();  // owned by its family, which outlives the cache
  cache.series.emplace(std::string(key), &created);
  return created;
}

void Metrics::admission(std::string_view endpoint, std::string_view kind, std::string_view app,
                        std::string_view decision, std::chrono::duration<double> latency) {
  std::string key;
  key.reserve(endpoint.size() + kind.size() + app.size() + decision.size() + 3);
  ((((key += endpoint) += '\x1f') += kind) += '\x1f') += app;
  (key += '\x1f') += decision;
  series<prometheus::Counter>(requests_series_, key, [&]() -> prometheus::Counter& {
    return requests_.Add({{"endpoint", text(endpoint)},
                          {"kind", text(kind)},
                          {"app", text(app)},
                          {"decision", text(decision)}});
  }).Increment();
  series<prometheus::Histogram>(latency_series_, endpoint, [&]() -> prometheus::Histogram& {
    return latency_.Add({{"endpoint", text(endpoint)}}, kLatencyBuckets);
  }).Observe(latency.count());
}

void Metrics::cluster_state(double age_seconds, double objects, bool synced) {
  cluster_state_age_.Set(age_seconds);
  cluster_objects_.Set(objects);
  cluster_synced_.Set(synced ? 1 : 0);
}

void Metrics::cluster_watch_restart(std::string_view reason) {
  cluster_watch_restarts_.Add({{"reason", text(reason)}}).Increment();
}

void Metrics::bad_request(std::string_view endpoint, int status) {
  bad_requests_.Add({{"endpoint", text(endpoint)}, {"code", std::to_string(status)}}).Increment();
}

void Metrics::value_resolved(std::string_view field, std::string_view source) {
  std::string key;
  key.reserve(field.size() + source.size() + 1);
  ((key += field) += '\x1f') += source;
  series<prometheus::Counter>(resolved_series_, key, [&]() -> prometheus::Counter& {
    return resolved_.Add({{"field", text(field)}, {"source", text(source)}});
  }).Increment();
}

void Metrics::event(std::string_view outcome) {
  events_.Add({{"outcome", text(outcome)}}).Increment();
}

void Metrics::access_decision(std::string_view mode, std::string_view result) {
  access_decisions_.Add({{"mode", text(mode)}, {"result", text(result)}}).Increment();
}

void Metrics::connections(int delta) { connections_.Increment(delta); }

void Metrics::connection_dropped(std::string_view reason) {
  dropped_connections_.Add({{"reason", text(reason)}}).Increment();
}

void Metrics::tls_handshake_failed() { tls_handshake_failures_.Increment(); }

void Metrics::policy_reload(std::string_view result) {
  policy_reloads_.Add({{"result", text(result)}}).Increment();
  policy_last_reload_successful_.Set(result == "success" ? 1 : 0);
}

void Metrics::certificate_reload(std::string_view result) {
  certificate_reloads_.Add({{"result", text(result)}}).Increment();
}

void Metrics::certificate_expiry(std::chrono::system_clock::time_point not_after) {
  certificate_expiry_.Set(static_cast<double>(
      std::chrono::duration_cast<std::chrono::seconds>(not_after.time_since_epoch()).count()));
}

Metrics::InFlight::InFlight(Metrics& metrics) : gauge_(metrics.in_flight_) { gauge_.Increment(); }
Metrics::InFlight::~InFlight() { gauge_.Decrement(); }

std::string Metrics::render() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace coderun::observability
