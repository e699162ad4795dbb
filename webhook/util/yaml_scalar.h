#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace coderun::util {

// What a plain (unquoted, untagged) YAML scalar means to sigs.k8s.io/yaml, which Kubernetes
// clients and Argo use to turn YAML into JSON: go-yaml v2's YAML 1.1 resolution (yes/no/on/off
// are booleans, 010 is octal 8, 0x10 is 16, 1_000 is 1000, 09 is the float 9, ~ is null).
struct PlainScalar {
  enum class Type { kString, kNull, kBool, kInt, kFloat, kUnrepresentable };
  Type type = Type::kString;
  // The JSON value as Go's encoding/json writes it (a float with an integral value below 2^63
  // becomes an integer, as Go prints 80.0 as 80); for kUnrepresentable, why (NaN, infinity, a
  // number out of range): JSON cannot carry it.
  nlohmann::json value;
  std::string problem;
};

PlainScalar resolve_plain_scalar(std::string_view text);

}  // namespace coderun::util
