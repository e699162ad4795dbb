#include "kube/kube_config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>

#include "util/base64.h"
#include "util/files.h"

namespace coderun::kube {
namespace {

std::string read_file(const std::string& path) {
  auto text = util::read_file(path);
  if (!text) throw KubeConfigError("cannot read " + path);
  return std::move(*text);
}

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  return text;
}

// https://host[:port] or https://[v6]:port
void parse_server(const std::string& server, KubeConfig& config) {
  std::string rest = server;
  if (rest.rfind("https://", 0) == 0) {
    rest = rest.substr(8);
  } else {
    throw KubeConfigError("API server '" + server + "' must be an https:// URL");
  }
  if (const auto slash = rest.find('/'); slash != std::string::npos) rest = rest.substr(0, slash);
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    config.host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    config.port = rest.size() > 1 && rest.front() == ':' ? std::stoi(rest.substr(1)) : 443;
    return;
  }
  const auto colon = rest.rfind(':');
  config.host = colon == std::string::npos ? rest : rest.substr(0, colon);
  config.port = colon == std::string::npos ? 443 : std::stoi(rest.substr(colon + 1));
}

YAML::Node named(const YAML::Node& list, const std::string& name, const char* what) {
  for (const auto& item : list) {
    if (item["name"] && item["name"].as<std::string>() == name) return item;
  }
  throw KubeConfigError(std::string("kubeconfig has no ") + what + " named '" + name + "'");
}

// A *-data field (base64) or a file path relative to the kubeconfig.
std::string data_or_file(const YAML::Node& node, const char* data_key, const char* file_key,
                         const std::filesystem::path& base) {
  if (node[data_key]) return util::base64_decode(node[data_key].as<std::string>());
  if (node[file_key]) {
    std::filesystem::path path = node[file_key].as<std::string>();
    if (path.is_relative()) path = base / path;
    return read_file(path.string());
  }
  return "";
}

}  // namespace

KubeConfig KubeConfig::in_cluster(const std::string& service_account_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr) {
    throw KubeConfigError("not in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set");
  }
  KubeConfig config;
  config.host = host;
  config.port = std::atoi(port);
  config.token_file = service_account_dir + "/token";
  config.ca_pem = read_file(service_account_dir + "/ca.crt");
  read_file(config.token_file);  // fail now, not at the first Event
  if (std::filesystem::exists(service_account_dir + "/namespace")) {
    config.namespace_name = trim(read_file(service_account_dir + "/namespace"));
  }
  return config;
}

KubeConfig KubeConfig::from_kubeconfig(const std::string& path) {
  try {
    const YAML::Node root = YAML::LoadFile(path);
    const auto base = std::filesystem::absolute(path).parent_path();
    const std::string context_name =
        root["current-context"] ? root["current-context"].as<std::string>() : "";
    if (context_name.empty())
      throw KubeConfigError("kubeconfig " + path + " has no current-context");
    const YAML::Node context = named(root["contexts"], context_name, "context")["context"];
    const YAML::Node cluster =
        named(root["clusters"], context["cluster"].as<std::string>(), "cluster")["cluster"];
    const YAML::Node user = named(root["users"], context["user"].as<std::string>(), "user")["user"];
    KubeConfig config;
    parse_server(cluster["server"].as<std::string>(), config);
    config.ca_pem =
        data_or_file(cluster, "certificate-authority-data", "certificate-authority", base);
    config.insecure_skip_tls_verify =
        cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>();
    if (user["token"]) config.token = user["token"].as<std::string>();
    if (user["tokenFile"]) config.token_file = user["tokenFile"].as<std::string>();
    config.client_cert_pem =
        data_or_file(user, "client-certificate-data", "client-certificate", base);
    config.client_key_pem = data_or_file(user, "client-key-data", "client-key", base);
    if (context["namespace"]) config.namespace_name = context["namespace"].as<std::string>();
    return config;
  } catch (const YAML::Exception& e) {
    throw KubeConfigError("kubeconfig " + path + ": " + e.what());
  }
}

std::optional<KubeConfig> KubeConfig::discover(const std::optional<std::string>& kubeconfig_flag) {
  if (kubeconfig_flag) return from_kubeconfig(*kubeconfig_flag);
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    return from_kubeconfig(env);
  }
  if (std::getenv("KUBERNETES_SERVICE_HOST") != nullptr) return in_cluster();
  return std::nullopt;
}

}  // namespace coderun::kube
