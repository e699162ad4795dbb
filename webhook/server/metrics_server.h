#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace coderun::server {

// Plain HTTP on its own port (not the admission port): GET /metrics in the Prometheus text
// format, GET /healthz. Runs on its own thread from start() until destruction.
class MetricsServer {
 public:
  MetricsServer(std::string address, int port, std::function<std::string()> render);
  ~MetricsServer();
  int start();  // binds and serves; returns the port; throws std::runtime_error

  static constexpr size_t kMaxRequestBody = 4096;  // GET needs none; larger bodies get 413

 private:
  std::string address_;
  int port_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
};

}  // namespace coderun::server
