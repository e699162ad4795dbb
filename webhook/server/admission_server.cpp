#include "server/admission_server.h"

#include <stdexcept>

#include "server/https_server.h"
#include "util/ascii.h"
#include "util/json_text.h"

namespace coderun::server {
namespace {

bool is_json_content_type(std::string_view value) {
  return util::istarts_with(value, "application/json");
}

HttpResponse error_response(int status, const std::string& message, std::string allow = "") {
  return HttpResponse{status, "application/json",
                      util::dump_json({{"error", message}, {"code", status}}) + "\n",
                      std::move(allow)};
}

HttpResponse text_response(int status, std::string text) {
  return HttpResponse{status, "text/plain", std::move(text), ""};
}

HttpsOptions transport_options(const ServerOptions& options, const Endpoints& endpoints) {
  HttpsOptions https;
  https.address = options.address;
  https.port = options.port;
  https.threads = options.threads;
  https.max_connections = options.max_connections;
  https.max_buffered_bytes = options.max_buffered_bytes;
  https.read_timeout = options.read_timeout;
  https.write_timeout = options.write_timeout;
  https.keep_alive_timeout = options.keep_alive_timeout;
  https.limits.max_body_bytes = options.max_body_bytes;
  https.on_connections = endpoints.on_connections;
  https.on_dropped = endpoints.on_dropped_connection;
  https.on_handshake_failed = endpoints.on_handshake_failed;
  return https;
}

}  // namespace

AdmissionServer::AdmissionServer(ServerOptions options, CertificateStore& certificates,
                                 Endpoints endpoints, const observability::JsonLog& log)
    : endpoints_(std::move(endpoints)), review_limits_(options.review), log_(log) {
  https_ = std::make_unique<HttpsServer>(
      transport_options(options, endpoints_), certificates,
      [this](const HttpRequest& request) { return route(request); },
      [this](const HttpRequest& request, const HttpError& error) {
        return refuse(request, error);
      });
}

AdmissionServer::~AdmissionServer() = default;

void AdmissionServer::refused(const std::string& where, int status,
                              const std::string& reason) const {
  if (endpoints_.on_refused) endpoints_.on_refused(where, status);
  // Keyed by what the server chose (endpoint, status), never by the path a client sent.
  const bool admission = where == "/mutate" || where == "/validate";
  const auto held_back =
      refusal_log_.pass((admission ? where : std::string("other")) + ' ' + std::to_string(status));
  if (!held_back) return;
  nlohmann::json fields = {{"path", where}, {"status", status}, {"reason", reason}};
  if (*held_back > 0) fields["more_refused_since_last_line"] = *held_back;
  log_.warn("request refused", fields);
}

HttpResponse AdmissionServer::route(const HttpRequest& request) const {
  const bool mutate = request.path == "/mutate";
  if (mutate || request.path == "/validate") {
    if (request.method != "POST") {
      refused(request.path, 405, "method " + request.method);
      return error_response(405, "method not allowed: use POST", "POST");
    }
    return mutate ? admit(endpoints_.mutate, "/mutate", request)
                  : admit(endpoints_.validate, "/validate", request);
  }
  if (request.path == "/healthz" || request.path == "/readyz") {
    if (request.method != "GET") {
      refused(request.path, 405, "method " + request.method);
      return error_response(405, "method not allowed: use GET", "GET");
    }
    if (request.path == "/healthz") return text_response(200, "ok\n");
    const Readiness readiness = endpoints_.readiness ? endpoints_.readiness() : Readiness{};
    return text_response(readiness.ready ? 200 : 503,
                         (readiness.ready ? "ok" : "not ready") +
                             (readiness.detail.empty() ? std::string() : ": " + readiness.detail) +
                             "\n");
  }
  refused(request.path, 404, "");
  return error_response(404, "no such endpoint: " + request.path);
}

HttpResponse AdmissionServer::admit(const AdmissionHandler& handler, const char* endpoint,
                                    const HttpRequest& http) const {
  if (!is_json_content_type(http.content_type)) {
    refused(endpoint, 415, "content type is not application/json");
    return error_response(415, "Content-Type must be application/json");
  }
  const auto parsed = admission::parse_review(http.body, review_limits_);
  if (const auto* error = std::get_if<admission::ReviewError>(&parsed)) {
    refused(endpoint, 400, error->message);
    return error_response(400, "invalid AdmissionReview: " + error->message);
  }
  const auto& request = std::get<admission::Request>(parsed);
  admission::Response response;
  try {
    response = handler(request);
  } catch (const std::exception& e) {
    // A defect, never expected: the API server still gets a well-formed answer.
    log_.error("handler failed",
               {{"endpoint", endpoint}, {"uid", request.uid}, {"error", e.what()}});
    response =
        admission::Response::deny(request.uid, std::string("internal error: ") + e.what(), 500);
  }
  return HttpResponse{200, "application/json",
                      admission::encode_review(response, request.review_api_version), ""};
}

// Requests the transport cannot hand over: malformed HTTP, too large, or a route that threw.
HttpResponse AdmissionServer::refuse(const HttpRequest& request, const HttpError& error) const {
  const std::string where = request.path.empty() ? "other" : request.path;
  if (error.status == 500) {  // a route threw: a defect, logged, its text not shown
    log_.error("request failed", {{"path", where}, {"error", error.message}});
    return error_response(error.status, "internal error");
  }
  refused(where, error.status, error.message);
  return error_response(error.status, error.message);
}

int AdmissionServer::bind() { return https_->bind(); }

void AdmissionServer::serve() { https_->serve(); }

void AdmissionServer::stop() { https_->stop(); }

size_t AdmissionServer::threads() const { return https_->threads(); }

}  // namespace coderun::server
