#include "util/json_text.h"

namespace coderun::util {

std::string dump_json(const nlohmann::json& value, int indent) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

size_t json_nesting_depth(std::string_view text) {
  size_t depth = 0;
  size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '{':
      case '[':
        if (++depth > deepest) deepest = depth;
        break;
      case '}':
      case ']':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return deepest;
}

JsonParseResult parse_untrusted_json(std::string_view text, size_t max_depth) {
  JsonParseResult result;
  if (const size_t depth = json_nesting_depth(text); depth > max_depth) {
    result.error = "JSON nested " + std::to_string(depth) + " levels deep, more than the limit of " +
                   std::to_string(max_depth);
    return result;
  }
  try {
    result.value = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    result.error = e.what();
  }
  return result;
}

}  // namespace coderun::util
