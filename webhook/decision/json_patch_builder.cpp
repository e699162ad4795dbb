#include "decision/json_patch_builder.h"

namespace coderun::decision {

void JsonPatchBuilder::add(const std::string& path, nlohmann::json value) {
  operations_.push_back({{"op", "add"}, {"path", path}, {"value", std::move(value)}});
}

void JsonPatchBuilder::replace(const std::string& path, nlohmann::json value) {
  operations_.push_back({{"op", "replace"}, {"path", path}, {"value", std::move(value)}});
}

void JsonPatchBuilder::add_missing_members(const nlohmann::json* existing, const std::string& path,
                                           const std::map<std::string, nlohmann::json>& members) {
  if (members.empty()) return;
  if (existing == nullptr || existing->is_null()) {
    add(path, nlohmann::json(members));
    return;
  }
  if (!existing->is_object()) return;  // not ours to repair; validation reports it
  for (const auto& [key, value] : members) {
    if (!existing->contains(key)) add(path + "/" + escape(key), value);
  }
}

std::string JsonPatchBuilder::escape(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (const char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

const nlohmann::json* member(const nlohmann::json* object, std::string_view key) {
  if (object == nullptr || !object->is_object()) return nullptr;
  const auto it = object->find(key);
  return it == object->end() ? nullptr : &*it;
}

}  // namespace coderun::decision
