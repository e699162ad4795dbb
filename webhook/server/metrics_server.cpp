#include "server/metrics_server.h"

#include <httplib.h>

#include <stdexcept>

namespace coderun::server {

MetricsServer::MetricsServer(std::string address, int port, std::function<std::string()> render)
    : address_(std::move(address)), port_(port), http_(std::make_unique<httplib::Server>()) {
  http_->new_task_queue = [] { return new httplib::ThreadPool(2); };  // owned by httplib
  http_->set_tcp_nodelay(true);
  http_->Get("/metrics",
             [render = std::move(render)](const httplib::Request&, httplib::Response& res) {
               res.set_content(render(), "text/plain; version=0.0.4; charset=utf-8");
             });
  http_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
}

MetricsServer::~MetricsServer() {
  http_->stop();
  if (thread_.joinable()) thread_.join();
}

int MetricsServer::start() {
  const int port = port_ == 0 ? http_->bind_to_any_port(address_)
                              : (http_->bind_to_port(address_, port_) ? port_ : -1);
  if (port <= 0)
    throw std::runtime_error("cannot listen for metrics on " + address_ + ":" +
                             std::to_string(port_));
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  return port;
}

}  // namespace coderun::server
