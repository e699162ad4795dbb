#pragma once
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace prometheus {
class Registry;
class Gauge;
template <typename T>
class Family;
class Counter;
class Histogram;
}  // namespace prometheus

namespace coderun::observability {

// The webhook's Prometheus metrics (prometheus-cpp registry, text format 0.0.4). Label values
// that come from users (the github-app) are bounded by the caller to the policy's list.
class Metrics {
 public:
  Metrics();
  ~Metrics();

  void admission(std::string_view endpoint, std::string_view kind, std::string_view app,
                 std::string_view decision, std::chrono::duration<double> latency);
  void bad_request(std::string_view endpoint, int status);
  // field: owner, ref...; source: event, parameter, default, prompts.
  void value_resolved(std::string_view field, std::string_view source);
  void event(std::string_view outcome);  // posted, failed, dropped, unstored, throttled
  // mode: enforce, audit; result: allowed, denied, would-deny. Once per request decided.
  void access_decision(std::string_view mode, std::string_view result);
  void connections(int delta);                       // +1 opened, -1 closed
  void connection_dropped(std::string_view reason);  // timeout, limit
  void tls_handshake_failed();
  // success, rejected; also sets coderun_webhook_policy_last_reload_successful (1 or 0).
  void policy_reload(std::string_view result);
  void certificate_reload(std::string_view result);
  void certificate_expiry(std::chrono::system_clock::time_point not_after);
  // The cluster-state cache: seconds since a broken watch last worked (0 while live), objects
  // held, whether the first sync is done; set when /metrics is scraped.
  void cluster_state(double age_seconds, double objects, bool synced);
  void cluster_watch_restart(std::string_view reason);  // expired (410 Gone), error

  // Counts a request in flight for as long as it lives.
  class InFlight {
   public:
    explicit InFlight(Metrics& metrics);
    ~InFlight();
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;

   private:
    prometheus::Gauge& gauge_;
  };
  std::string render() const;

 private:
  // The series of a family by its label values joined: per-request updates then cost one hash
  // lookup instead of building prometheus-cpp's std::map of labels.
  struct SeriesCache {
    struct Hash {
      using is_transparent = void;
      size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
    };
    std::mutex mutex;
    std::unordered_map<std::string, void*, Hash, std::equal_to<>> series;
  };
  template <typename Metric, typename Create>
  static Metric& series(SeriesCache& cache, std::string_view key, Create create);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& bad_requests_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Gauge& in_flight_;
  prometheus::Family<prometheus::Counter>& resolved_;
  prometheus::Family<prometheus::Counter>& events_;
  prometheus::Family<prometheus::Counter>& access_decisions_;
  prometheus::Family<prometheus::Counter>& policy_reloads_;
  prometheus::Gauge& policy_last_reload_successful_;
  prometheus::Family<prometheus::Counter>& certificate_reloads_;
  prometheus::Gauge& certificate_expiry_;
  prometheus::Gauge& connections_;
  prometheus::Family<prometheus::Counter>& dropped_connections_;
  prometheus::Counter& tls_handshake_failures_;
  prometheus::Gauge& cluster_state_age_;
  prometheus::Gauge& cluster_objects_;
  prometheus::Gauge& cluster_synced_;
  prometheus::Family<prometheus::Counter>& cluster_watch_restarts_;
  SeriesCache requests_series_, latency_series_, resolved_series_;
};

}  // namespace coderun::observability
