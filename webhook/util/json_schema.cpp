#include "util/json_schema.h"

#include <stdexcept>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "util/files.h"

namespace coderun::util {
namespace {

// valijson's context is {"<root>", "[spec]", "[0]", ...}; users read $.spec[0].
std::string json_path(const std::vector<std::string>& context) {
  std::string path = "$";
  for (const auto& part : context) {
    if (part == "<root>") continue;
    if (part.size() >= 2 && part.front() == '[' && part.back() == ']') {
      const std::string inner = part.substr(1, part.size() - 2);
      const bool index =
          !inner.empty() && inner.find_first_not_of("0123456789") == std::string::npos;
      path += index ? part : "." + inner;
    } else {
      path += "." + part;
    }
  }
  return path;
}

}  // namespace

JsonSchema::JsonSchema(const nlohmann::json& schema_document)
    : schema_(std::make_unique<valijson::Schema>()) {
  try {
    valijson::SchemaParser parser;
    const valijson::adapters::NlohmannJsonAdapter adapter(schema_document);
    parser.populateSchema(adapter, *schema_);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("invalid JSON Schema: ") + e.what());
  }
}

JsonSchema::~JsonSchema() = default;
JsonSchema::JsonSchema(JsonSchema&&) noexcept = default;
JsonSchema& JsonSchema::operator=(JsonSchema&&) noexcept = default;

std::vector<SchemaViolation> JsonSchema::validate(const nlohmann::json& document) const {
  valijson::Validator validator;
  valijson::ValidationResults results;
  const valijson::adapters::NlohmannJsonAdapter adapter(document);
  std::vector<SchemaViolation> violations;
  if (validator.validate(*schema_, adapter, &results)) return violations;
  for (const auto& error : results)
    violations.push_back({json_path(error.context), error.description});
  // valijson reports the outermost failure first; the innermost one names the real problem.
  std::stable_sort(violations.begin(), violations.end(),
                   [](const auto& a, const auto& b) { return a.path.size() > b.path.size(); });
  return violations;
}

JsonSchema JsonSchema::from_file(const std::string& path) {
  const auto text = read_file(path);
  if (!text) throw std::runtime_error("cannot read JSON Schema " + path);
  try {
    return JsonSchema(nlohmann::json::parse(*text));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("JSON Schema " + path + " is not valid JSON: " + e.what());
  }
}

}  // namespace coderun::util
