#pragma once
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "admission/review.h"
#include "policy/prompt_catalog.h"

namespace coderun::testing {

std::string fixtures_dir();
std::string read_text(const std::string& path);
nlohmann::json read_event_fixture(const std::string& name);  // "pull_request.opened"
std::vector<std::string> event_fixture_names();              // every file in github-events/

// A prompts directory without a disk: exactly the listed paths exist.
class FakePrompts final : public policy::PromptCatalog {
 public:
  explicit FakePrompts(std::set<std::string> paths) : paths_(std::move(paths)) {}
  bool exists(const std::string& pods_dir, std::string_view name) const override {
    return paths_.count(pods_dir + "/" + std::string(name)) != 0;
  }

 private:
  std::set<std::string> paths_;
};

// [{"name": n, "value": v}, ...] as Argo writes Workflow arguments.
nlohmann::json params(std::initializer_list<std::pair<const char*, std::string>> values);

// A served Workflow (coderun-template) with the given parameters.
nlohmann::json workflow_with(const nlohmann::json& parameters);
admission::Request create_request(const nlohmann::json& object);

}  // namespace coderun::testing
