#include "kube/kube_config.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "util/base64.h"

using coderun::kube::KubeConfig;
using coderun::kube::KubeConfigError;

namespace {
std::filesystem::path temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("coderun-kube-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}
}  // namespace

TEST_CASE("a kubeconfig's current context gives server, CA, token and namespace") {
  const auto dir = temp_dir("config");
  std::ofstream(dir / "ca.pem") << "CA PEM";
  std::ofstream(dir / "config") << R"(apiVersion: v1
kind: Config
current-context: dev
contexts:
- name: other
  context: {cluster: c2, user: u2}
- name: dev
  context: {cluster: c1, user: u1, namespace: argo}
clusters:
- name: c1
  cluster: {server: "https://10.0.0.1:6443", certificate-authority: ca.pem}
- name: c2
  cluster: {server: "https://example:1"}
users:
- name: u1
  user: {token: s3cr3t, client-certificate-data: )"
                                << coderun::util::base64_encode("CERT") << R"(}
- name: u2
  user: {}
)";
  const auto config = KubeConfig::from_kubeconfig((dir / "config").string());
  CHECK(config.host == "10.0.0.1");
  CHECK(config.port == 6443);
  CHECK(config.ca_pem == "CA PEM");
  CHECK(config.token == "s3cr3t");
  CHECK(config.client_cert_pem == "CERT");
  CHECK(config.namespace_name == "argo");
  std::filesystem::remove_all(dir);
}

TEST_CASE("a kubeconfig that cannot be used says why") {
  const auto dir = temp_dir("bad");
  std::ofstream(dir / "config") << "current-context: x\ncontexts: []\n";
  CHECK_THROWS_AS(KubeConfig::from_kubeconfig((dir / "config").string()), KubeConfigError);
  std::ofstream(dir / "http")
      << "current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n"
         "clusters: [{name: c, cluster: {server: 'http://plain:80'}}]\nusers: [{name: u, user: "
         "{}}]\n";
  CHECK_THROWS_WITH(KubeConfig::from_kubeconfig((dir / "http").string()),
                    Catch::Contains("https://"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("in-cluster configuration reads the service account and the service environment") {
  const auto dir = temp_dir("sa");
  std::ofstream(dir / "token") << "projected-token\n";
  std::ofstream(dir / "ca.crt") << "CLUSTER CA";
  std::ofstream(dir / "namespace") << "coderun-webhook";
  ::setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  const auto config = KubeConfig::in_cluster(dir.string());
  CHECK(config.host == "10.96.0.1");
  CHECK(config.port == 443);
  CHECK(config.token_file == (dir / "token").string());
  CHECK(config.ca_pem == "CLUSTER CA");
  CHECK(config.namespace_name == "coderun-webhook");
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
  CHECK_THROWS_AS(KubeConfig::in_cluster(dir.string()), KubeConfigError);
  std::filesystem::remove_all(dir);
}
