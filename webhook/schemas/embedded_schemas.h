#pragma once
#include <nlohmann/json.hpp>
#include <string_view>

#include "util/json_schema.h"

namespace coderun::schemas {

// The JSON Schemas of policy/ (policy, coderun, docsrun), compiled into the binary at build time
// so the image needs no schema file beside it. Parsed and compiled once, on first use.
const nlohmann::json& policy_document();
const util::JsonSchema& policy();
const util::JsonSchema& coderun();
const util::JsonSchema& docsrun();

}  // namespace coderun::schemas
