#pragma once
#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace coderun::server {

// The serving certificate and key, re-read when the files change (a Secret rotated by
// cert-manager or certs/make-certs.sh) with no restart. Each TLS handshake takes the pair in
// force when it starts (SSL_CTX cert callback), so a handshake in flight keeps the old pair.
class CertificateStore {
 public:
  struct Pair;  // leaf, chain and key; immutable once loaded

  // Loads both files; throws std::runtime_error with OpenSSL's reason when they are unusable.
  CertificateStore(std::string cert_path, std::string key_path);
  ~CertificateStore();

  enum class ReloadOutcome { kUnchanged, kReloaded, kRejected };
  // A pair that does not load, or whose key does not match, is rejected and retried next time
  // (the two files of a Secret are not updated in one step).
  ReloadOutcome reload_if_changed();

  // Installs the certificate callback on a server context and sets the TLS policy: TLS 1.2 as
  // the minimum, with ECDHE and AEAD suites only; resumption from a bounded session cache, no
  // session tickets. Throws std::runtime_error if OpenSSL refuses it.
  void configure(SSL_CTX& context);

  std::chrono::system_clock::time_point not_after() const;
  std::string subject() const;
  std::optional<std::string> last_error() const;

 private:
  static int select_certificate(SSL* ssl, void* self);
  std::shared_ptr<const Pair> current() const;

  std::string cert_path_, key_path_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Pair> current_;
  std::string loaded_identity_;
  std::optional<std::string> last_error_;
};

}  // namespace coderun::server
