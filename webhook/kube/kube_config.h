#pragma once
#include <optional>
#include <stdexcept>
#include <string>

namespace coderun::kube {

class KubeConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// How to reach the Kubernetes API server: in-cluster (service-account token, ca.crt,
// KUBERNETES_SERVICE_HOST/PORT) or a kubeconfig's current context.
struct KubeConfig {
  std::string host;
  int port = 443;
  std::string ca_pem;           // trusted CAs; empty: the system's
  std::string token;            // a static bearer token
  std::string token_file;       // a bearer token re-read as it rotates (projected SA tokens)
  std::string client_cert_pem;  // client certificate authentication
  std::string client_key_pem;
  bool insecure_skip_tls_verify = false;
  std::string namespace_name;  // in-cluster: the pod's namespace

  static constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

  // Throws KubeConfigError when not running in a cluster or the files are unreadable.
  static KubeConfig in_cluster(const std::string& service_account_dir = kServiceAccountDir);
  // The current context of a kubeconfig file; throws KubeConfigError.
  static KubeConfig from_kubeconfig(const std::string& path);
  // --kubeconfig, else $KUBECONFIG, else in-cluster, else nullopt (Events are then not posted).
  static std::optional<KubeConfig> discover(const std::optional<std::string>& kubeconfig_flag);
};

}  // namespace coderun::kube
