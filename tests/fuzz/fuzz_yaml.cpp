// libFuzzer target for the YAML path that remains on the request path: a podSpecPatch written as
// YAML (`make fuzz`). Invariants, beyond not crashing, hanging or exhausting memory: the JSON
// built is never much larger than the YAML read (nothing is expanded), and the JSON text written
// reads back as the same value (what Argo will read is what was built).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "util/json_text.h"
#include "util/yaml_json.h"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  coderun::util::YamlLimits limits;
  limits.max_nodes = 20'000;
  limits.argo_expressions_double_quoted = (data[0] & 1) != 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto parsed = coderun::util::parse_yaml(text, limits);
  if (!parsed.value) {
    check(!parsed.error.empty());
    return 0;
  }
  const std::string json = coderun::util::dump_json(*parsed.value);
  check(json.size() <= 8 * text.size() + 16);
  const auto again = coderun::util::parse_untrusted_json(json, 128);
  check(again.value && *again.value == *parsed.value);
  return 0;
}
