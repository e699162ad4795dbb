#include "util/json_text.h"

#include <simdjson.h>

#include <memory>

namespace coderun::util {
namespace {

using nlohmann::json;

// Documents up to this size reuse a per-thread parser (its buffers stay allocated); larger ones
// get a parser of their own, freed after, so a rare 3 MiB review does not pin 3 MiB per worker.
constexpr size_t kReusedCapacity = 256 * 1024;

class Converter {
 public:
  explicit Converter(size_t max_depth) : max_depth_(max_depth) {}

  bool convert(simdjson::dom::element element, json& out, size_t depth, const JsonKeep* keep) {
    switch (element.type()) {
      case simdjson::dom::element_type::ARRAY: {
        if (depth + 1 > max_depth_) return too_deep();
        out = json::array();
        if (keep != nullptr && keep->mode == JsonKeep::Mode::kPresence) return true;
        const simdjson::dom::array array =
            element.get_array().value_unsafe();  // a copy: the result is a temporary
        for (const auto child : array) {
          out.push_back(nullptr);
          if (!convert(child, out.back(), depth + 1, keep)) return false;
        }
        return true;
      }
      case simdjson::dom::element_type::OBJECT: {
        if (depth + 1 > max_depth_) return too_deep();
        out = json::object();
        if (keep != nullptr && keep->mode == JsonKeep::Mode::kPresence) return true;
        const simdjson::dom::object object = element.get_object().value_unsafe();
        for (const auto field : object) {
          const JsonKeep* child_keep = nullptr;
          if (keep != nullptr && keep->mode == JsonKeep::Mode::kMembers) {
            const auto found = keep->members.find(field.key);
            if (found == keep->members.end()) continue;
            child_keep = found->second;
          }
          if (!convert(field.value, out[std::string(field.key)], depth + 1, child_keep))
            return false;
        }
        return true;
      }
      case simdjson::dom::element_type::INT64: {
        // nlohmann keeps non-negative integers unsigned; so does this conversion.
        const int64_t value = element.get_int64().value_unsafe();
        out = value >= 0 ? json(static_cast<uint64_t>(value)) : json(value);
        return true;
      }
      case simdjson::dom::element_type::UINT64:
        out = element.get_uint64().value_unsafe();
        return true;
      case simdjson::dom::element_type::DOUBLE:
        out = element.get_double().value_unsafe();
        return true;
      case simdjson::dom::element_type::STRING:
        out = std::string(element.get_string().value_unsafe());
        return true;
      case simdjson::dom::element_type::BOOL:
        out = element.get_bool().value_unsafe();
        return true;
      case simdjson::dom::element_type::NULL_VALUE:
        out = nullptr;
        return true;
    }
    return true;
  }

  const std::string& error() const { return error_; }

 private:
  bool too_deep() {
    error_ = "JSON nested more than " + std::to_string(max_depth_) + " levels deep";
    return false;
  }

  size_t max_depth_;
  std::string error_;
};

}  // namespace

std::string dump_json(const nlohmann::json& value, int indent) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

void append_json(std::string& out, const nlohmann::json& value) {
  nlohmann::detail::serializer<nlohmann::json> serializer(
      nlohmann::detail::output_adapter<char, std::string>(out), ' ',
      nlohmann::json::error_handler_t::replace);
  serializer.dump(value, false, false, 0);
}

JsonParseResult parse_untrusted_json(std::string_view text, size_t max_depth,
                                     const JsonKeep* keep) {
  JsonParseResult result;
  // One parser per worker thread, reused: a scratch buffer owned by the thread, not shared state.
  thread_local simdjson::dom::parser reused(kReusedCapacity);
  std::unique_ptr<simdjson::dom::parser> own;
  simdjson::dom::parser* parser = &reused;
  if (text.size() > kReusedCapacity) {
    own = std::make_unique<simdjson::dom::parser>(text.size());
    parser = own.get();
  }
  simdjson::dom::element root;
  if (const auto error = parser->parse(text.data(), text.size()).get(root);
      error != simdjson::SUCCESS) {
    result.error = simdjson::error_message(error);
    if (error == simdjson::DEPTH_ERROR) result.error = "JSON nested too deep: " + result.error;
    return result;
  }
  Converter converter(max_depth);
  json value;
  if (!converter.convert(root, value, 0, keep)) {
    result.error = converter.error();
    return result;
  }
  result.value = std::move(value);
  return result;
}

}  // namespace coderun::util
