#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace coderun::decision {

// Builds an RFC 6902 patch directly as JSON text from what the decision wants to add, rather
// than by diffing two documents: every operation is one the webhook chose, and values prepared
// once (the pod plumbing) are written as text without being serialised again per request.
class JsonPatchBuilder {
 public:
  void add(const std::string& path, const nlohmann::json& value);
  void replace(const std::string& path, const nlohmann::json& value);
  // `value_json` is already serialised JSON.
  void add_serialized(const std::string& path, std::string_view value_json);

  // Adds each member of `members` that `existing` lacks; adds the whole object at `path` when
  // `existing` is absent or null. Never replaces a member the user set.
  void add_missing_members(const nlohmann::json* existing, const std::string& path,
                           const std::map<std::string, nlohmann::json>& members);

  bool empty() const { return count_ == 0; }
  size_t size() const { return count_; }
  // The patch as JSON text ("[...]"), or "" when there is no operation.
  std::string text() const { return count_ == 0 ? std::string() : text_ + "]"; }
  nlohmann::json operations() const;

  // RFC 6901: '~' -> ~0, '/' -> ~1.
  static std::string escape(std::string_view key);

 private:
  void begin(const char* op, const std::string& path);

  std::string text_;
  size_t count_ = 0;
};

// Member `key` of `object` when object is an object and has it; else nullptr.
const nlohmann::json* member(const nlohmann::json* object, std::string_view key);

}  // namespace coderun::decision
