#include "server/certificate_store.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <stdexcept>
#include <vector>

namespace coderun::server {
namespace {

struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

std::string openssl_error() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

std::string file_identity(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return "missing";
  return std::to_string(info.st_ino) + ":" + std::to_string(info.st_size) + ":" +
         std::to_string(info.st_mtim.tv_sec) + "." + std::to_string(info.st_mtim.tv_nsec);
}

}  // namespace

struct CertificateStore::Pair {
  X509Ptr leaf;
  std::vector<X509Ptr> chain;
  KeyPtr key;
};

namespace {

std::shared_ptr<const CertificateStore::Pair> load_pair(const std::string& cert_path,
                                                        const std::string& key_path) {
  auto pair = std::make_shared<CertificateStore::Pair>();
  BioPtr cert_bio(BIO_new_file(cert_path.c_str(), "r"));
  if (!cert_bio)
    throw std::runtime_error("cannot read certificate " + cert_path + ": " + openssl_error());
  pair->leaf.reset(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (!pair->leaf)
    throw std::runtime_error("no PEM certificate in " + cert_path + ": " + openssl_error());
  while (X509* extra = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr)) {
    pair->chain.emplace_back(extra);
  }
  ERR_clear_error();  // the loop ends on a "no start line" error
  BioPtr key_bio(BIO_new_file(key_path.c_str(), "r"));
  if (!key_bio) throw std::runtime_error("cannot read key " + key_path + ": " + openssl_error());
  pair->key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!pair->key)
    throw std::runtime_error("no PEM private key in " + key_path + ": " + openssl_error());
  if (X509_check_private_key(pair->leaf.get(), pair->key.get()) != 1) {
    ERR_clear_error();
    throw std::runtime_error("the key in " + key_path + " does not match the certificate in " +
                             cert_path);
  }
  return pair;
}

}  // namespace

CertificateStore::CertificateStore(std::string cert_path, std::string key_path)
    : cert_path_(std::move(cert_path)), key_path_(std::move(key_path)) {
  loaded_identity_ = file_identity(cert_path_) + "|" + file_identity(key_path_);
  current_ = load_pair(cert_path_, key_path_);
}

CertificateStore::~CertificateStore() = default;

std::shared_ptr<const CertificateStore::Pair> CertificateStore::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

std::optional<std::string> CertificateStore::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

CertificateStore::ReloadOutcome CertificateStore::reload_if_changed() {
  const std::string identity = file_identity(cert_path_) + "|" + file_identity(key_path_);
  {
    std::lock_guard lock(mutex_);
    if (identity == loaded_identity_) return ReloadOutcome::kUnchanged;
  }
  try {
    auto fresh = load_pair(cert_path_, key_path_);
    std::lock_guard lock(mutex_);
    current_ = std::move(fresh);
    loaded_identity_ = identity;
    last_error_.reset();
    return ReloadOutcome::kReloaded;
  } catch (const std::exception& e) {
    std::lock_guard lock(mutex_);
    last_error_ = e.what();  // identity not recorded: tried again on the next tick
    return ReloadOutcome::kRejected;
  }
}

int CertificateStore::select_certificate(SSL* ssl, void* self) {
  const auto pair = static_cast<CertificateStore*>(self)->current();
  if (!pair) return 0;
  if (SSL_use_certificate(ssl, pair->leaf.get()) != 1) return 0;
  if (SSL_use_PrivateKey(ssl, pair->key.get()) != 1) return 0;
  SSL_clear_chain_certs(ssl);
  for (const auto& cert : pair->chain) {
    if (SSL_add1_chain_cert(ssl, cert.get()) != 1) return 0;
  }
  return 1;
}

void CertificateStore::configure(SSL_CTX& context) {
  SSL_CTX_set_min_proto_version(&context, TLS1_2_VERSION);
  // TLS 1.2: forward secrecy and AEAD only (no CBC, no static RSA key exchange). The API server
  // (Go) offers all of these; TLS 1.3's suites are all AEAD already.
  if (SSL_CTX_set_cipher_list(&context,
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1) {
    throw std::runtime_error("cannot set the TLS 1.2 cipher list: " + openssl_error());
  }
  // No session tickets: they would all be sealed with one key living as long as the process.
  // Resumption goes through the server's session cache instead (TLS 1.3 then issues stateful
  // tickets naming a cache entry), bounded in size and expiring after an hour.
  SSL_CTX_set_options(&context,
                      SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(&context, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(&context, 1024);
  SSL_CTX_set_num_tickets(&context, 1);  // one cache entry per connection, not two
  SSL_CTX_set_timeout(&context, 3600);
  SSL_CTX_set_cert_cb(&context, &CertificateStore::select_certificate, this);
}

std::chrono::system_clock::time_point CertificateStore::not_after() const {
  const auto pair = current();
  const ASN1_TIME* end = X509_get0_notAfter(pair->leaf.get());
  int days = 0, seconds = 0;
  ASN1_TIME_diff(&days, &seconds, nullptr, end);  // from now to notAfter
  return std::chrono::system_clock::now() + std::chrono::hours(24) * days +
         std::chrono::seconds(seconds);
}

std::string CertificateStore::subject() const {
  const auto pair = current();
  char text[512];
  X509_NAME_oneline(X509_get_subject_name(pair->leaf.get()), text, sizeof text);
  return text;
}

}  // namespace coderun::server
