#include "kube/api_client.h"

#include <httplib.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <stdexcept>

#include "util/files.h"

namespace coderun::kube {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};

// Every certificate in a PEM bundle, in a store that the TLS client takes ownership of.
X509_STORE* store_from_pem(const std::string& pem) {
  X509_STORE* store = X509_STORE_new();
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);
    X509_free(cert);
  }
  ERR_clear_error();
  return store;
}

std::string file_identity(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return "";
  return std::to_string(info.st_ino) + ":" + std::to_string(info.st_mtim.tv_sec) + "." +
         std::to_string(info.st_mtim.tv_nsec) + ":" + std::to_string(info.st_size);
}

template <typename Response>
ApiResult result_of(const Response& response) {
  if (!response) return {0, httplib::to_string(response.error()), std::nullopt};
  ApiResult result{response->status, response->body, std::nullopt};
  // Only the delta-seconds form: the API server never sends an HTTP date here.
  const std::string retry_after = response->get_header_value("Retry-After");
  if (!retry_after.empty() && retry_after.size() <= 6 &&
      retry_after.find_first_not_of("0123456789") == std::string::npos) {
    result.retry_after = std::chrono::seconds(std::stol(retry_after));
  }
  return result;
}

}  // namespace

ApiClient::ApiClient(KubeConfig config) : config_(std::move(config)) {
  if (!config_.client_cert_pem.empty() && !config_.client_key_pem.empty()) {
    std::unique_ptr<BIO, BioFree> cert_bio(BIO_new_mem_buf(
        config_.client_cert_pem.data(), static_cast<int>(config_.client_cert_pem.size())));
    std::unique_ptr<BIO, BioFree> key_bio(BIO_new_mem_buf(
        config_.client_key_pem.data(), static_cast<int>(config_.client_key_pem.size())));
    X509* cert = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr);
    if (cert == nullptr || key == nullptr) {
      X509_free(cert);
      EVP_PKEY_free(key);
      throw KubeConfigError("the kubeconfig's client certificate or key is not valid PEM");
    }
    http_ = std::make_unique<httplib::SSLClient>(config_.host, config_.port, cert, key);
    X509_free(cert);  // the client keeps its own references
    EVP_PKEY_free(key);
  } else {
    http_ = std::make_unique<httplib::SSLClient>(config_.host, config_.port);
  }
  if (!config_.ca_pem.empty()) http_->set_ca_cert_store(store_from_pem(config_.ca_pem));
  http_->enable_server_certificate_verification(!config_.insecure_skip_tls_verify);
  http_->set_connection_timeout(2, 0);
  http_->set_read_timeout(5, 0);
  http_->set_write_timeout(5, 0);
  http_->set_keep_alive(true);
  // httplib writes a request's headers and body separately: with Nagle's algorithm the body waits
  // for the server's delayed ACK of the headers (about 40 ms), which held one sender to ~25
  // requests a second.
  http_->set_tcp_nodelay(true);
}

ApiClient::~ApiClient() = default;

std::string ApiClient::bearer_token() {
  if (config_.token_file.empty()) return config_.token;
  const std::string identity = file_identity(config_.token_file);
  if (identity != token_identity_) {  // kubelet rotates projected tokens: read the new one
    token_ = util::read_file(config_.token_file).value_or("");
    while (!token_.empty() && (token_.back() == '\n' || token_.back() == '\r')) token_.pop_back();
    token_identity_ = identity;
  }
  return token_;
}

void ApiClient::prepare() {
  const std::string token = bearer_token();
  if (!token.empty()) http_->set_bearer_token_auth(token);
}

ApiResult ApiClient::get(const std::string& path) {
  prepare();
  return result_of(http_->Get(path));
}

ApiResult ApiClient::get(const std::string& path, const std::string& accept) {
  prepare();
  return result_of(http_->Get(path, httplib::Headers{{"Accept", accept}}));
}

ApiResult ApiClient::watch(const std::string& path, const std::string& accept,
                           const std::function<bool(std::string_view line)>& on_line) {
  prepare();
  int status = 0;
  std::string pending;  // a line not yet complete, or the error body
  const auto response = http_->Get(
      path, httplib::Headers{{"Accept", accept}},
      [&status](const httplib::Response& head) {
        status = head.status;
        return true;
      },
      [&](const char* data, size_t length) {
        pending.append(data, length);
        if (status < 200 || status >= 300) return pending.size() < (1 << 20);
        size_t start = 0;
        for (size_t end = pending.find('\n'); end != std::string::npos;
             end = pending.find('\n', start)) {
          const std::string_view line(pending.data() + start, end - start);
          start = end + 1;
          if (!line.empty() && !on_line(line)) return false;
        }
        pending.erase(0, start);
        return true;
      });
  if (!response) {
    // The handler ending the stream reads as a cancellation: a normal end.
    if (response.error() == httplib::Error::Canceled && status >= 200 && status < 300) {
      return {status, "", std::nullopt};
    }
    return {0, httplib::to_string(response.error()), std::nullopt};
  }
  ApiResult result = result_of(response);
  result.body = status >= 200 && status < 300 ? "" : pending;
  return result;
}

void ApiClient::set_read_timeout(std::chrono::seconds timeout) {
  http_->set_read_timeout(static_cast<time_t>(timeout.count()), 0);
}

void ApiClient::stop() { http_->stop(); }

ApiResult ApiClient::post(const std::string& path, const std::string& json_body) {
  prepare();
  return result_of(http_->Post(path, json_body, "application/json"));
}

ApiResult ApiClient::merge_patch(const std::string& path, const std::string& json_body) {
  prepare();
  return result_of(http_->Patch(path, json_body, "application/merge-patch+json"));
}

}  // namespace coderun::kube
