#include "server/metrics_server.h"

#include <httplib.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace coderun::server {

MetricsServer::MetricsServer(std::string address, int port, std::function<std::string()> render)
    : address_(std::move(address)), port_(port), http_(std::make_unique<httplib::Server>()) {
  http_->new_task_queue = [] { return new httplib::ThreadPool(2); };  // owned by httplib
  http_->set_tcp_nodelay(true);
  // httplib's default also sets SO_REUSEPORT, with which a second instance binds the same port
  // and silently takes half the scrapes. SO_REUSEADDR alone lets a restart bind past TIME_WAIT
  // and refuses a port another process listens on, as the admission port does.
  http_->set_socket_options([](socket_t sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  // The scrape port faces the network too: no request may cost more than a small buffer (httplib
  // would otherwise read a body of any size into memory: a 300 MB POST took the process to
  // 536 MB), nor hold a worker for long.
  http_->set_payload_max_length(kMaxRequestBody);
  http_->set_read_timeout(5, 0);
  http_->set_write_timeout(5, 0);
  http_->set_keep_alive_max_count(100);
  http_->set_keep_alive_timeout(5);
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
  errno = 0;
  const int port = port_ == 0 ? http_->bind_to_any_port(address_)
                              : (http_->bind_to_port(address_, port_) ? port_ : -1);
  // httplib reports failure without a reason; errno is still bind's (or getaddrinfo left it 0).
  const int error = errno;
  if (port <= 0)
    throw std::runtime_error("cannot listen for metrics on " + address_ + ":" +
                             std::to_string(port_) + ": " +
                             (error != 0 ? std::strerror(error) : "unknown address"));
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  return port;
}

}  // namespace coderun::server
