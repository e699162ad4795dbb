#pragma once
#include <nlohmann/json.hpp>
#include <string_view>

#include "util/json_text.h"

namespace coderun::util {

// Bounds on what converting one YAML document may build, so that no input costs more than a
// known amount of memory and CPU.
struct YamlLimits {
  size_t max_depth = 64;
  size_t max_nodes = 100'000;  // scalars, sequences and mappings
  // Argo replaces {{...}} in the text before it reads it. In a plain scalar (cpu: {{x}}) the type
  // the value ends up with is unknown now; in single quotes or a block scalar, the characters
  // that end the string differ from JSON's, so a value could mean one thing in the user's YAML
  // and another in the JSON written back. In double quotes they are the same as in JSON.
  bool argo_expressions_double_quoted = false;
};

// Converts YAML to JSON exactly as sigs.k8s.io/yaml (what kubectl and Argo use) would, or
// refuses with a reason: scalars resolve as go-yaml v2 resolves them (YAML 1.1: yes is true, 010
// is 8), and whatever has no faithful JSON form is refused rather than guessed at: anchors and
// aliases (never expanded: a few hundred bytes of them can expand to gigabytes), merge keys,
// tags, keys that are not strings, numbers, or booleans, duplicate keys, NaN and infinities,
// several documents, and with argo_expressions_double_quoted, {{...}} outside double quotes. Never
// throws; libyaml does the parsing, event by event, so a refused document stops being read where it
// is refused.
JsonParseResult parse_yaml(std::string_view text, const YamlLimits& limits = {});

// The same for trusted files (the policy, the offline commands' inputs): throws
// std::runtime_error with the reason.
nlohmann::json yaml_to_json(std::string_view text);

}  // namespace coderun::util
