// `coderun-webhook serve`: wires the policy, the prompts, the service and the TLS transport, and
// owns the process's lifetime (signals, reloads, graceful shutdown).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/policy_flags.h"
#include "cluster/cluster_watcher.h"
#include "decision/run_inputs.h"
#include "kube/api_client.h"
#include "kube/event_recorder.h"
#include "kube/kube_config.h"
#include "observability/json_log.h"
#include "observability/log_throttle.h"
#include "observability/metrics.h"
#include "policy/policy_store.h"
#include "policy/prompt_catalog.h"
#include "server/admission_server.h"
#include "server/certificate_store.h"
#include "server/metrics_server.h"
#include "service/webhook_service.h"

namespace coderun::cli {
namespace {

// Said once at start and once on each reload that keeps it: workflowPlumbing podSpecPatch puts
// the token into pods that need none and breaks hardened Argo controllers.
void warn_workflow_plumbing(const observability::JsonLog& log, const policy::Policy& policy) {
  if (policy.workflow_plumbing != policy::WorkflowPlumbing::kPodSpecPatch) return;
  log.warn(
      "workflowPlumbing is podSpecPatch: the gh-token initContainer goes into every pod of the "
      "served Workflows, and Argo controllers with templateReferencing Strict or Secure refuse "
      "such Workflows (spec.volumes and spec.podSpecPatch with workflowTemplateRef)",
      {{"workflow_plumbing", std::string(policy::to_string(policy.workflow_plumbing))}});
}

// After admission stops on SIGTERM, how long queued Events may still be sent: with the
// Deployment's --shutdown-delay of 5 s and terminationGracePeriodSeconds of 30, well inside it.
constexpr std::chrono::milliseconds kEventDrainGrace{10000};

// Re-reads the policy and the certificate every second until stopped.
class ReloadLoop {
 public:
  ReloadLoop(policy::PolicyStore& policies, server::CertificateStore& certificates,
             const observability::JsonLog& log, observability::Metrics& metrics)
      : policies_(policies),
        certificates_(certificates),
        log_(log),
        metrics_(metrics),
        thread_([this] {
          check_expiry();
          run();
        }) {}
  ~ReloadLoop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; })) {
      lock.unlock();
      tick();
      lock.lock();
    }
  }

  void tick() {
    switch (policies_.reload_if_changed()) {
      case policy::PolicyStore::ReloadOutcome::kReloaded:
        metrics_.policy_reload("success");
        log_.info("policy reloaded",
                  {{"path", policies_.path()},
                   {"access", policy::describe_access(policies_.current()->access)},
                   {"workflow_plumbing",
                    std::string(policy::to_string(policies_.current()->workflow_plumbing))}});
        warn_workflow_plumbing(log_, *policies_.current());
        break;
      case policy::PolicyStore::ReloadOutcome::kRejected:
        metrics_.policy_reload("rejected");
        log_.error("policy reload rejected; keeping the last good policy",
                   {{"path", policies_.path()}, {"error", policies_.last_error().value_or("")}});
        break;
      case policy::PolicyStore::ReloadOutcome::kUnchanged:
        break;
    }
    switch (certificates_.reload_if_changed()) {
      case server::CertificateStore::ReloadOutcome::kReloaded:
        metrics_.certificate_reload("success");
        log_.info("certificate reloaded", {{"subject", certificates_.subject()}});
        last_expiry_warning_ = {};
        break;
      case server::CertificateStore::ReloadOutcome::kRejected:
        metrics_.certificate_reload("rejected");
        log_.warn("certificate reload deferred",
                  {{"error", certificates_.last_error().value_or("")}});
        break;
      case server::CertificateStore::ReloadOutcome::kUnchanged:
        break;
    }
    check_expiry();
  }

  // Exposes notAfter, and warns (hourly) from 7 days before it.
  void check_expiry() {
    const auto not_after = certificates_.not_after();
    metrics_.certificate_expiry(not_after);
    const auto now = std::chrono::system_clock::now();
    if (not_after - now > std::chrono::hours(24 * 7)) return;
    if (now - last_expiry_warning_ < std::chrono::hours(1)) return;
    last_expiry_warning_ = now;
    log_.warn("serving certificate expires soon",
              {{"subject", certificates_.subject()},
               {"expires_in_hours",
                std::chrono::duration_cast<std::chrono::hours>(not_after - now).count()}});
  }

  policy::PolicyStore& policies_;
  server::CertificateStore& certificates_;
  const observability::JsonLog& log_;
  observability::Metrics& metrics_;
  std::chrono::system_clock::time_point last_expiry_warning_{};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

// Waits for SIGTERM or SIGINT (blocked in every thread, received here only). Then: readiness
// turns false, the server keeps serving for the shutdown delay (endpoints are being updated and
// the API server may still send requests here), stops accepting, and serve() returns once the
// requests in flight are answered. A second signal skips the delay.
class SignalWatcher {
 public:
  SignalWatcher(server::AdmissionServer& server, const observability::JsonLog& log,
                std::chrono::seconds delay, std::atomic<bool>& shutting_down)
      : thread_([&server, &log, delay, &shutting_down] {
          const sigset_t signals = termination_signals();
          int received = 0;
          sigwait(&signals, &received);
          shutting_down = true;
          log.info("shutting down: not ready; serving during the shutdown delay",
                   {{"signal", received}, {"delay_s", delay.count()}});
          if (delay.count() > 0) {
            const timespec timeout{static_cast<time_t>(delay.count()), 0};
            sigtimedwait(&signals, nullptr, &timeout);  // a second signal ends the delay
          }
          log.info("draining requests in flight");
          server.stop();
        }) {}
  ~SignalWatcher() {
    // Wakes the watcher if serve() returned on its own; a no-op once the thread has returned.
    pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
  }

  static sigset_t termination_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    return signals;
  }

 private:
  std::thread thread_;
};

// TLS handshakes that fail (a wrong caBundle fails every call the API server makes) are counted
// in the metrics and logged at most once per 10 s, with how many failures the line stands for.
class HandshakeFailureLog {
 public:
  HandshakeFailureLog(const observability::JsonLog& log, observability::Metrics& metrics)
      : log_(log), metrics_(metrics) {}

  void report(const std::string& reason) {
    metrics_.tls_handshake_failed();
    const auto held_back = throttle_.pass("handshake");
    if (!held_back) return;
    log_.warn("TLS handshake failed",
              {{"reason", reason},
               {"failures", *held_back + 1},
               {"hint",
                "\"unknown ca\" or \"bad certificate\": the client does not trust the "
                "serving certificate (check the webhook configurations' caBundle); "
                "\"http request\": plain HTTP was sent to the TLS port"}});
  }

 private:
  const observability::JsonLog& log_;
  observability::Metrics& metrics_;
  observability::LogThrottle throttle_{std::chrono::seconds(10)};
};

// The reportingInstance of Events: POD_NAME from the downward API, else the host name.
std::string pod_name() {
  if (const char* name = std::getenv("POD_NAME"); name != nullptr && *name != '\0') return name;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host;
}

// --log-level, else LOG_LEVEL, else info; a level outside the set is refused, not read as info.
std::string log_level(const Args& args) {
  if (const auto level = args.get("log-level")) return *level;  // checked by Args
  const char* env = std::getenv("LOG_LEVEL");
  if (env == nullptr || *env == '\0') return "info";
  const auto& levels = find_command("serve")->find("log-level")->choices;
  if (std::find(levels.begin(), levels.end(), env) == levels.end()) {
    throw UsageError(std::string("LOG_LEVEL must be one of debug, info, warn, error, not '") + env +
                     "'");
  }
  return env;
}

// Binds a listener; a port in use (or an address not of this host) ends the start with a log
// line saying which, rather than a process that serves without it.
int bind_or_exit(const observability::JsonLog& log, const char* what,
                 const std::function<int()>& bind) {
  try {
    return bind();
  } catch (const std::runtime_error& e) {
    log.error("cannot listen", {{"listener", what}, {"error", e.what()}});
    throw;
  }
}

// --port-file/--metrics-port-file: the port once bound, for whoever started the process.
void write_port_file(const Args& args, const std::string& flag, int port) {
  const auto path = args.get(flag);
  if (!path) return;
  std::ofstream file(*path);
  file << port << "\n";
  file.close();
  if (!file) throw UsageError("cannot write --" + flag + " " + *path);
}

// How long readiness waits for the cluster state's first sync: long enough for a slow API server,
// short enough that a replica whose watches cannot start still serves (its decisions warn).
constexpr std::chrono::seconds kFirstSyncWait{30};

// What the cluster checks read: every Namespace (annotations), and by name across namespaces the
// policy's agents and mcp-requirements ConfigMaps and each allowed app's token Secret. Fixed at
// start: Secrets of apps added by a policy reload are watched after a restart.
std::vector<cluster::WatchedQuery> cluster_queries(const policy::Policy& policy) {
  std::vector<cluster::WatchedQuery> queries{
      {cluster::Kind::kNamespace, ""},
      {cluster::Kind::kConfigMap, policy.agents.config_map},
  };
  if (policy.mcp_requirements.config_map != policy.agents.config_map) {
    queries.push_back({cluster::Kind::kConfigMap, policy.mcp_requirements.config_map});
  }
  for (const auto& app : policy.allowed_apps) {
    queries.push_back({cluster::Kind::kSecret, policy.token.secret_name(app)});
  }
  return queries;
}

void block_termination_signals() {
  const sigset_t signals = SignalWatcher::termination_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client closing mid-write must not kill the process
}

}  // namespace

int serve_command(const std::vector<std::string>& flags) {
  const Args args(*find_command("serve"), flags);
  const auto cert = args.get("cert");
  const auto key = args.get("key");
  if (!cert || !key) throw UsageError("--cert and --key are required");
  const observability::JsonLog log(log_level(args));

  block_termination_signals();
  std::unique_ptr<policy::PolicyStore> policies;
  try {
    if (const auto path = args.get("policy")) {
      policies = std::make_unique<policy::PolicyStore>(*path);
    } else {
      policies = std::make_unique<policy::PolicyStore>(policy::Policy{});
    }
  } catch (const policy::PolicyError& e) {
    log.error("invalid policy at start", {{"error", e.what()}});
    return kExitUsage;
  }
  server::CertificateStore certificates(*cert, *key);
  const auto prompts = prompts_from_flags(args);
  observability::Metrics metrics;

  // Events: in-cluster, or --kubeconfig / $KUBECONFIG outside; without either, not posted.
  std::unique_ptr<kube::EventRecorder> events;
  if (const auto kube_config = kube::KubeConfig::discover(args.get("kubeconfig"))) {
    kube::EventRecorder::Options event_options;
    event_options.reporting_instance = pod_name();
    events = std::make_unique<kube::EventRecorder>(
        kube::EventRecorder::over(*kube_config), event_options,
        [&metrics](kube::EventRecorder::Outcome outcome) {
          metrics.event(kube::EventRecorder::outcome_name(outcome));
        },
        &log);
    log.info("posting Kubernetes Events",
             {{"api_server", kube_config->host + ":" + std::to_string(kube_config->port)},
              {"reporting_instance", event_options.reporting_instance},
              {"senders", event_options.senders},
              {"queue_capacity", event_options.queue_capacity}});
  } else {
    log.warn("no Kubernetes API configuration (in-cluster or --kubeconfig): Events are not posted");
  }
  // The cluster's state for the decisions (clusterChecks), watched off the request path.
  std::unique_ptr<cluster::ClusterWatcher> cluster_watcher;
  if (const auto kube_config = kube::KubeConfig::discover(args.get("kubeconfig"))) {
    cluster_watcher = std::make_unique<cluster::ClusterWatcher>(
        *kube_config, cluster_queries(*policies->current()), log,
        [&metrics](const std::string& reason) { metrics.cluster_watch_restart(reason); });
    log.info("watching the cluster's state for clusterChecks",
             {{"queries", cluster_watcher->state().queries().size()},
              {"first_sync_wait_s", kFirstSyncWait.count()}});
  }
  service::WebhookService::ClusterSource cluster_source;
  if (cluster_watcher) {
    cluster_source = [&cluster_watcher]() -> std::shared_ptr<const cluster::ClusterView> {
      return cluster_watcher->snapshot();
    };
  }
  service::WebhookService service(*policies, prompts, log, &metrics, events.get(),
                                  std::move(cluster_source));

  server::ServerOptions options;
  options.address = args.get_or("addr", "0.0.0.0");
  options.port = static_cast<int>(args.get_number("port", 8443));
  options.threads = static_cast<size_t>(args.get_number("threads", 0));
  options.max_connections = static_cast<size_t>(
      args.get_number("max-connections", static_cast<long long>(server::kDefaultMaxConnections)));
  options.max_buffered_bytes = static_cast<size_t>(args.get_number(
      "max-buffered-bytes", static_cast<long long>(server::kDefaultMaxBufferedBytes)));
  options.max_body_bytes = static_cast<size_t>(args.get_number("max-body-bytes", 3 << 20));
  options.read_timeout = std::chrono::seconds(args.get_number("read-timeout", 10));
  options.review.object_fields = &decision::run_object_fields();
  server::Endpoints endpoints;
  endpoints.mutate = [&service](const admission::Request& request) {
    return service.handle(request, decision::Phase::kMutate);
  };
  endpoints.validate = [&service](const admission::Request& request) {
    return service.handle(request, decision::Phase::kValidate);
  };
  std::atomic<bool> shutting_down{false};
  const auto started = std::chrono::steady_clock::now();
  std::atomic<bool> sync_wait_logged{false};
  endpoints.readiness = [&policies, &shutting_down, &events, &cluster_watcher, &log, started,
                         &sync_wait_logged] {
    server::Readiness readiness;
    if (shutting_down) return server::Readiness{false, "shutting down"};
    if (const auto error = policies->last_error()) {
      // Still ready: every replica reads the same ConfigMap, so failing readiness here would take
      // them all out at once and, with failurePolicy Fail, block every submission.
      readiness.detail = "serving the last good policy; reload rejected: " + *error;
    }
    // Still ready too: lost audit records are worth seeing, not worth refusing admissions for.
    if (const auto stats = events ? events->stats() : kube::EventRecorder::Stats{};
        stats.dropped > 0 || stats.throttled > 0) {
      readiness.detail += (readiness.detail.empty() ? "" : "; ") +
                          std::string("Kubernetes Events dropped (queue full): ") +
                          std::to_string(stats.dropped) +
                          ", throttled (one object over its budget): " +
                          std::to_string(stats.throttled);
    }
    // The first sync, bounded: past the bound the replica serves, its decisions warn.
    if (cluster_watcher && !cluster_watcher->state().synced() &&
        policies->current()->cluster_checks.value_or(policy::ClusterChecks::kOff) !=
            policy::ClusterChecks::kOff) {
      if (std::chrono::steady_clock::now() - started < kFirstSyncWait) {
        return server::Readiness{false, "waiting for the cluster state's first sync"};
      }
      if (!sync_wait_logged.exchange(true)) {
        log.warn("cluster state not synced within the first-sync wait: serving; decisions warn",
                 {{"waited_s", kFirstSyncWait.count()}});
      }
      readiness.detail += (readiness.detail.empty() ? "" : "; ") +
                          std::string("cluster state not synced: decisions warn, check files only");
    }
    return readiness;
  };
  endpoints.on_connections = [&metrics](int delta) { metrics.connections(delta); };
  endpoints.on_dropped_connection = [&metrics](const char* reason) {
    metrics.connection_dropped(reason);
  };
  HandshakeFailureLog handshake_failures(log, metrics);
  endpoints.on_handshake_failed = [&handshake_failures](const std::string& reason) {
    handshake_failures.report(reason);
  };
  endpoints.on_refused = [&metrics](const std::string& where, int status) {
    metrics.bad_request(where == "/mutate" || where == "/validate" ? where : "other", status);
  };
  server::AdmissionServer server(options, certificates, std::move(endpoints), log);
  const int port = bind_or_exit(log, "admission", [&server] { return server.bind(); });
  write_port_file(args, "port-file", port);
  std::unique_ptr<server::MetricsServer> metrics_server;
  if (const long long metrics_port = args.get_number("metrics-port", 9090); metrics_port >= 0) {
    metrics_server = std::make_unique<server::MetricsServer>(
        args.get_or("metrics-addr", "0.0.0.0"), static_cast<int>(metrics_port),
        [&metrics, &cluster_watcher] {
          if (cluster_watcher) {
            const auto& state = cluster_watcher->state();
            metrics.cluster_state(
                static_cast<double>(state.age(std::chrono::steady_clock::now()).count()),
                static_cast<double>(state.objects()), state.synced());
          }
          return metrics.render();
        });
    const int bound = bind_or_exit(log, "metrics", [&] { return metrics_server->start(); });
    write_port_file(args, "metrics-port-file", bound);
    log.info("serving metrics", {{"port", bound}});
  }
  log.info("listening", {{"address", options.address},
                         {"port", port},
                         {"threads", server.threads()},
                         {"policy", policies->path()},
                         {"access", policy::describe_access(policies->current()->access)},
                         {"workflow_plumbing",
                          std::string(policy::to_string(policies->current()->workflow_plumbing))},
                         {"prompts_dir", policies->current()->prompts_dir},
                         {"prompts_read_from", args.get("prompts-dir")
                                                   ? absolute_dir(*args.get("prompts-dir"))
                                                   : policies->current()->prompts_dir},
                         {"certificate", certificates.subject()}});
  warn_workflow_plumbing(log, *policies->current());
  {
    const ReloadLoop reloads(*policies, certificates, log, metrics);
    const SignalWatcher signals(
        server, log, std::chrono::seconds(args.get_number("shutdown-delay", 0)), shutting_down);
    server.serve();
  }
  // Admission has stopped: the Events still queued get a bounded grace (the Deployment's
  // terminationGracePeriodSeconds leaves room for it after --shutdown-delay).
  if (events) events->stop(kEventDrainGrace);
  log.info("stopped");
  return kExitOk;
}

}  // namespace coderun::cli
