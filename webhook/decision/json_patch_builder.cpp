#include "decision/json_patch_builder.h"

#include "util/json_text.h"

namespace coderun::decision {

// Writes an operation up to its value, which the caller appends, then closes with '}'.
void JsonPatchBuilder::begin(const char* op, const std::string& path) {
  text_ += count_++ == 0 ? "[" : ",";
  text_ += R"({"op":")";
  text_ += op;
  text_ += R"(","path":)";
  util::append_json(text_, path);
  text_ += R"(,"value":)";
}

void JsonPatchBuilder::add(const std::string& path, const nlohmann::json& value) {
  begin("add", path);
  util::append_json(text_, value);
  text_ += '}';
}

void JsonPatchBuilder::replace(const std::string& path, const nlohmann::json& value) {
  begin("replace", path);
  util::append_json(text_, value);
  text_ += '}';
}

void JsonPatchBuilder::add_serialized(const std::string& path, std::string_view value_json) {
  begin("add", path);
  text_ += value_json;
  text_ += '}';
}

nlohmann::json JsonPatchBuilder::operations() const {
  return count_ == 0 ? nlohmann::json::array() : nlohmann::json::parse(text());
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
