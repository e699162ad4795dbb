#include "server/admission_server.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "util/json_text.h"

namespace coderun::server {
namespace {

bool is_json_content_type(const std::string& value) {
  std::string lower(value);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower.rfind("application/json", 0) == 0;
}

void reply_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(util::dump_json({{"error", message}, {"code", status}}) + "\n",
                  "application/json");
}

}  // namespace

AdmissionServer::AdmissionServer(ServerOptions options, CertificateStore& certificates,
                                 Endpoints endpoints, const observability::JsonLog& log)
    : options_(std::move(options)), endpoints_(std::move(endpoints)), log_(log) {
  http_ = std::make_unique<httplib::SSLServer>([&certificates](SSL_CTX& context) {
    certificates.configure(context);
    return true;
  });
  if (!http_->is_valid()) throw std::runtime_error("cannot create the TLS server context");
  // The library's defaults (8 workers, 5 requests per keep-alive connection, Nagle on) are set in
  // its compiled code, so they are changed here rather than with macros.
  const size_t workers = options_.worker_threads;
  // cpp-httplib takes ownership of the queue it is given and deletes it.
  http_->new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  http_->set_tcp_nodelay(true);
  http_->set_keep_alive_max_count(options_.keep_alive_max_requests);
  http_->set_keep_alive_timeout(options_.keep_alive_timeout.count());
  http_->set_read_timeout(options_.read_timeout.count(), 0);
  http_->set_write_timeout(options_.write_timeout.count(), 0);
  http_->set_payload_max_length(options_.max_body_bytes);
  install_routes();
}

AdmissionServer::~AdmissionServer() = default;

void AdmissionServer::refused(const std::string& where, int status,
                              const std::string& reason) const {
  log_.warn("request refused", {{"path", where}, {"status", status}, {"reason", reason}});
  if (endpoints_.on_refused) endpoints_.on_refused(where, status);
}

void AdmissionServer::install_routes() {
  const auto admission_route = [this](const AdmissionHandler& handler, const char* endpoint) {
    return [this, &handler, endpoint](const httplib::Request& req, httplib::Response& res) {
      if (!is_json_content_type(req.get_header_value("Content-Type"))) {
        refused(endpoint, 415, "content type is not application/json");
        return reply_error(res, 415, "Content-Type must be application/json");
      }
      const auto parsed = admission::parse_review(req.body, admission::ReviewLimits{});
      if (const auto* error = std::get_if<admission::ReviewError>(&parsed)) {
        refused(endpoint, 400, error->message);
        return reply_error(res, 400, "invalid AdmissionReview: " + error->message);
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
      res.set_content(admission::encode_review(response, request.review_api_version),
                      "application/json");
    };
  };
  http_->Post("/mutate", admission_route(endpoints_.mutate, "/mutate"));
  http_->Post("/validate", admission_route(endpoints_.validate, "/validate"));
  const auto method_not_allowed = [this](const httplib::Request& req, httplib::Response& res) {
    refused(req.path, 405, "method " + req.method);
    res.set_header("Allow", "POST");
    reply_error(res, 405, "method not allowed: use POST");
  };
  http_->Get("/mutate", method_not_allowed);
  http_->Get("/validate", method_not_allowed);
  http_->Put("/mutate", method_not_allowed);
  http_->Put("/validate", method_not_allowed);
  http_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  http_->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    const Readiness readiness = endpoints_.readiness ? endpoints_.readiness() : Readiness{};
    res.status = readiness.ready ? 200 : 503;
    res.set_content((readiness.ready ? "ok" : "not ready") +
                        (readiness.detail.empty() ? std::string() : ": " + readiness.detail) + "\n",
                    "text/plain");
  });
  http_->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404 || res.status == 413) refused(req.path, res.status, "");
    if (!res.body.empty()) return;
    switch (res.status) {
      case 404:
        return reply_error(res, 404, "no such endpoint: " + req.path);
      case 413:
        return reply_error(res, 413, "request body is larger than the limit");
      default:
        return reply_error(res, res.status, "request refused");
    }
  });
  http_->set_exception_handler(
      [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr error) {
        std::string what = "unknown error";
        try {
          if (error) std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        log_.error("request failed", {{"path", req.path}, {"error", what}});
        reply_error(res, 500, "internal error");
      });
}

int AdmissionServer::bind() {
  const int port =
      options_.port == 0
          ? http_->bind_to_any_port(options_.address)
          : (http_->bind_to_port(options_.address, options_.port) ? options_.port : -1);
  if (port <= 0) {
    throw std::runtime_error("cannot listen on " + options_.address + ":" +
                             std::to_string(options_.port));
  }
  return port;
}

void AdmissionServer::serve() { http_->listen_after_bind(); }

void AdmissionServer::stop() { http_->stop(); }

}  // namespace coderun::server
