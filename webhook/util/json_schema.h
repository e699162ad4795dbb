#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace valijson {
class Schema;
}

namespace coderun::util {

// One schema violation: where (a JSON path such as $.spec.repo) and which rule.
struct SchemaViolation {
  std::string path;
  std::string rule;
};

// A JSON Schema (draft 4/7 as valijson supports) compiled once and used many times.
class JsonSchema {
 public:
  // Throws std::runtime_error when the schema itself is not valid.
  explicit JsonSchema(const nlohmann::json& schema_document);
  ~JsonSchema();
  JsonSchema(JsonSchema&&) noexcept;
  JsonSchema& operator=(JsonSchema&&) noexcept;

  // Every violation, most specific first; empty when the document is valid.
  std::vector<SchemaViolation> validate(const nlohmann::json& document) const;

  static JsonSchema from_file(const std::string& path);

 private:
  std::unique_ptr<valijson::Schema> schema_;
};

}  // namespace coderun::util
