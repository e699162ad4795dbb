#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "admission/review.h"
#include "observability/json_log.h"
#include "observability/log_throttle.h"
#include "server/certificate_store.h"
#include "server/http_message.h"
#include "server/https_server.h"

namespace coderun::server {

struct ServerOptions {
  std::string address = "0.0.0.0";
  int port = 8443;  // 0: any free port (see bound_port)
  // Event-loop threads (0: one per CPU, at least 2). Decisions take well under a millisecond
  // of CPU and never block, so more threads than cores would only add switching.
  size_t threads = 0;
  size_t max_connections = kDefaultMaxConnections;
  size_t max_buffered_bytes = kDefaultMaxBufferedBytes;  // all connections together; 503 past it
  size_t max_body_bytes = 3 << 20;  // the API server sends at most ~3 MiB objects; 413 past it
  std::chrono::seconds read_timeout{10};  // for a whole request, however slowly it is sent
  std::chrono::seconds write_timeout{10};
  std::chrono::seconds keep_alive_timeout{30};
  admission::ReviewLimits review;  // what an AdmissionReview may build, and what of it is read
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
  // Connections opening (+1) and closing (-1); connections dropped ("timeout", "limit") and
  // requests refused for the buffer budget ("budget").
  std::function<void(int)> on_connections;
  std::function<void(const char*)> on_dropped_connection;
  std::function<void(const std::string&)> on_handshake_failed;  // OpenSSL's reason
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
  size_t threads() const;

 private:
  HttpResponse route(const HttpRequest& request) const;
  HttpResponse admit(const AdmissionHandler& handler, const char* endpoint,
                     const HttpRequest& request) const;
  HttpResponse refuse(const HttpRequest& request, const HttpError& error) const;
  void refused(const std::string& where, int status, const std::string& reason) const;

  Endpoints endpoints_;
  admission::ReviewLimits review_limits_;
  const observability::JsonLog& log_;
  // One "request refused" line per endpoint and status every 10 s, with a count of the rest: a
  // client repeating a bad request must not fill the log (nor spend the CPU writing it).
  mutable observability::LogThrottle refusal_log_{std::chrono::seconds(10)};
  std::unique_ptr<HttpsServer> https_;
};

}  // namespace coderun::server
