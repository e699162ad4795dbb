#pragma once
#include <nlohmann/json.hpp>
#include <string_view>

namespace coderun::util {

// Converts a YAML document (or JSON, which is YAML) to JSON. Plain scalars keep the YAML 1.2 core
// schema types (true/false, null, integers, floats); quoted scalars stay strings.
// Throws std::runtime_error with the YAML parser's message on malformed input.
nlohmann::json yaml_to_json(std::string_view text);

}  // namespace coderun::util
