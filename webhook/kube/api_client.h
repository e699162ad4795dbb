#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "kube/kube_config.h"

namespace httplib {
class SSLClient;
}

namespace coderun::kube {

struct ApiResult {
  int status = 0;    // HTTP status; 0 when no answer came (connection, TLS, timeout)
  std::string body;  // response body, or the transport error
  // The server's Retry-After (seconds) on 429 and 503: how long to leave it alone.
  std::optional<std::chrono::seconds> retry_after;
  bool ok() const { return status >= 200 && status < 300; }
  // Worth retrying: no answer, throttled, or a server error.
  bool retryable() const { return status == 0 || status == 429 || status >= 500; }
};

// A minimal Kubernetes REST client over HTTPS with the cluster's CA, bearer token (re-read from
// its file when it rotates) or client certificate. Not thread-safe: one owner thread.
class ApiClient {
 public:
  explicit ApiClient(KubeConfig config);
  ~ApiClient();

  ApiResult get(const std::string& path);
  // A GET with its own Accept header (PartialObjectMetadata lists, say).
  ApiResult get(const std::string& path, const std::string& accept);
  // A watch: the body is handed over line by line as it arrives (one event per line) while
  // on_line returns true. On a 2xx the result's body is empty; otherwise it is the error body.
  ApiResult watch(const std::string& path, const std::string& accept,
                  const std::function<bool(std::string_view line)>& on_line);
  // A watch may stay silent for its whole timeoutSeconds: the read timeout must outlast it.
  void set_read_timeout(std::chrono::seconds timeout);
  // Ends a request in progress from another thread (shutdown of a watch).
  void stop();
  ApiResult post(const std::string& path, const std::string& json_body);
  ApiResult merge_patch(const std::string& path, const std::string& json_body);

 private:
  std::string bearer_token();
  void prepare();

  KubeConfig config_;
  std::unique_ptr<httplib::SSLClient> http_;
  std::string token_;
  std::string token_identity_;
};

}  // namespace coderun::kube
