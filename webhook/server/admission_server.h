#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "admission/review.h"
#include "observability/json_log.h"
#include "server/certificate_store.h"

namespace httplib {
class SSLServer;
}

namespace coderun::server {

struct ServerOptions {
  std::string address = "0.0.0.0";
  int port = 8443;  // 0: any free port (see bound_port)
  // Each keep-alive connection holds a worker while it is open (cpp-httplib's model); the API
  // server keeps a pool of connections per webhook, so this is well above httplib's 8.
  size_t worker_threads = 64;
  size_t max_body_bytes = 3 << 20;  // the API server sends at most ~3 MiB objects; 413 past it
  std::chrono::seconds read_timeout{10};
  std::chrono::seconds write_timeout{10};
  std::chrono::seconds keep_alive_timeout{30};
  size_t keep_alive_max_requests = 100000;
};

using AdmissionHandler = std::function<admission::Response(const admission::Request&)>;

struct Readiness {
  bool ready = true;
  std::string detail;
};

struct Endpoints {
  AdmissionHandler mutate;
  AdmissionHandler validate;
  std::function<Readiness()> readiness;
  // Told of every request refused before a decision (endpoint or path, HTTP status).
  std::function<void(const std::string&, int)> on_refused;
};

// HTTPS transport for AdmissionReviews: decodes, calls a handler, encodes. Knows nothing of
// GitHub or of what is being admitted. POST /mutate, POST /validate, GET /healthz, GET /readyz.
class AdmissionServer {
 public:
  AdmissionServer(ServerOptions options, CertificateStore& certificates, Endpoints endpoints,
                  const observability::JsonLog& log);
  ~AdmissionServer();
  AdmissionServer(const AdmissionServer&) = delete;
  AdmissionServer& operator=(const AdmissionServer&) = delete;

  int bind();    // binds the socket; returns the port; throws std::runtime_error on failure
  void serve();  // blocks until stop(); requests in flight finish before it returns
  void stop();   // stops accepting; safe from any thread

 private:
  void install_routes();
  void refused(const std::string& where, int status, const std::string& reason) const;

  ServerOptions options_;
  Endpoints endpoints_;
  const observability::JsonLog& log_;
  std::unique_ptr<httplib::SSLServer> http_;
};

}  // namespace coderun::server
