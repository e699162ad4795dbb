#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace coderun::util {

// Serialises without ever throwing: invalid UTF-8 from a payload becomes U+FFFD instead of an
// exception (nlohmann's default dump() throws type_error 316 on it).
std::string dump_json(const nlohmann::json& value, int indent = -1);

// Deepest nesting of objects/arrays in a JSON text, found by a linear scan before parsing so that
// a hostile document cannot make the parser or the destructor recurse without bound.
size_t json_nesting_depth(std::string_view text);

struct JsonParseResult {
  std::optional<nlohmann::json> value;
  std::string error;  // empty on success
};

// Parses untrusted JSON text: never throws; refuses documents nested deeper than max_depth.
JsonParseResult parse_untrusted_json(std::string_view text, size_t max_depth);

}  // namespace coderun::util
