#include "test_support.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace coderun::testing {

std::string fixtures_dir() { return CODERUN_FIXTURES_DIR; }

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

nlohmann::json read_event_fixture(const std::string& name) {
  return nlohmann::json::parse(read_text(fixtures_dir() + "/github-events/" + name + ".json"));
}

std::vector<std::string> event_fixture_names() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(fixtures_dir() + "/github-events")) {
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

nlohmann::json params(std::initializer_list<std::pair<const char*, std::string>> values) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [name, value] : values) out.push_back({{"name", name}, {"value", value}});
  return out;
}

nlohmann::json workflow_with(const nlohmann::json& parameters) {
  return {{"apiVersion", "argoproj.io/v1alpha1"},
          {"kind", "Workflow"},
          {"metadata", {{"generateName", "coderun-"}, {"namespace", "argo"}}},
          {"spec",
           {{"workflowTemplateRef", {{"name", "coderun-template"}}},
            {"arguments", {{"parameters", parameters}}}}}};
}

admission::Request create_request(const nlohmann::json& object) {
  admission::Request request;
  request.review_api_version = "admission.k8s.io/v1";
  request.uid = "test-uid";
  const std::string api_version = object.value("apiVersion", "");
  request.kind.group = api_version.substr(0, api_version.find('/'));
  request.kind.version = api_version.substr(api_version.find('/') + 1);
  request.kind.kind = object.value("kind", "");
  request.operation = "CREATE";
  request.namespace_name = "argo";
  request.object = object;
  return request;
}

}  // namespace coderun::testing
