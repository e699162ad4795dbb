#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace coderun::decision {

// Builds an RFC 6902 patch directly from what the decision wants to add, rather than by diffing
// two documents: cheaper, and every operation is one the webhook chose.
class JsonPatchBuilder {
 public:
  void add(const std::string& path, nlohmann::json value);
  void replace(const std::string& path, nlohmann::json value);

  // Adds each member of `members` that `existing` lacks; adds the whole object at `path` when
  // `existing` is absent or null. Never replaces a member the user set.
  void add_missing_members(const nlohmann::json* existing, const std::string& path,
                           const std::map<std::string, nlohmann::json>& members);

  bool empty() const { return operations_.empty(); }
  const nlohmann::json& operations() const { return operations_; }
  nlohmann::json take() { return std::move(operations_); }

  // RFC 6901: '~' -> ~0, '/' -> ~1.
  static std::string escape(std::string_view key);

 private:
  nlohmann::json operations_ = nlohmann::json::array();
};

// Member `key` of `object` when object is an object and has it; else nullptr.
const nlohmann::json* member(const nlohmann::json* object, std::string_view key);

}  // namespace coderun::decision
