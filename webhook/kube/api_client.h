#pragma once
#include <chrono>
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
