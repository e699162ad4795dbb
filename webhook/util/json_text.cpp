#include "util/json_text.h"

#include <simdjson.h>

#include <cstring>
#include <memory>
#include <vector>

namespace coderun::util {
namespace {

using nlohmann::json;

// Documents up to this size reuse a per-thread parser and padded copy (their buffers stay
// allocated); larger ones get their own, freed after, so a rare 3 MiB review does not pin
// megabytes per worker.
constexpr size_t kReusedCapacity = 256 * 1024;

namespace od = simdjson::ondemand;

class Converter {
 public:
  Converter(size_t max_depth, size_t max_values) : max_depth_(max_depth), max_values_(max_values) {}

  // Checks `element` whole and builds it into `out` as `keep` says; out == nullptr: check only.
  simdjson::error_code convert(od::value element, json* out, size_t depth, const JsonKeep* keep) {
    od::json_type type;
    if (const auto error = element.type().get(type)) return error;
    switch (type) {
      case od::json_type::array: {
        if (depth + 1 > max_depth_) return too_deep();
        od::array array;
        if (const auto error = element.get_array().get(array)) return error;
        if (out != nullptr) {
          if (const auto error = built(json::array(), *out)) return error;
        }
        const bool children = out != nullptr && !(keep && keep->mode == JsonKeep::Mode::kPresence);
        for (auto child : array) {
          od::value value;
          if (const auto error = std::move(child).get(value)) return error;
          json* slot = nullptr;
          if (children) slot = &out->emplace_back();
          if (const auto error = convert(value, slot, depth + 1, keep)) return error;
        }
        return simdjson::SUCCESS;
      }
      case od::json_type::object: {
        if (depth + 1 > max_depth_) return too_deep();
        od::object object;
        if (const auto error = element.get_object().get(object)) return error;
        if (out != nullptr) {
          if (const auto error = built(json::object(), *out)) return error;
        }
        const bool children = out != nullptr && !(keep && keep->mode == JsonKeep::Mode::kPresence);
        for (auto member : object) {
          od::field field;
          if (const auto error = std::move(member).get(field)) return error;
          std::string_view key;
          if (const auto error = field.unescaped_key().get(key)) return error;
          const JsonKeep* child_keep = keep;
          bool wanted = children;
          if (keep != nullptr && keep->mode == JsonKeep::Mode::kMembers) {
            const auto found = keep->members.find(key);
            child_keep = found != keep->members.end() ? found->second : keep->others;
            wanted = wanted && child_keep != nullptr;
          }
          json* slot = wanted ? &(*out)[std::string(key)] : nullptr;
          if (const auto error = convert(field.value(), slot, depth + 1, child_keep)) return error;
        }
        return simdjson::SUCCESS;
      }
      case od::json_type::number: {
        od::number number;
        if (element.get_number().get(number) != simdjson::SUCCESS) {
          // An integer beyond 64 bits is valid JSON (Go writes 1e20 as 100000000000000000000):
          // read as a double, as Go and nlohmann do.
          double value = 0;
          if (const auto error = element.get_double().get(value)) return error;
          return out == nullptr ? simdjson::SUCCESS : built(json(value), *out);
        }
        if (out == nullptr) return simdjson::SUCCESS;
        switch (number.get_number_type()) {
          case od::number_type::signed_integer: {
            // nlohmann keeps non-negative integers unsigned; so does this conversion.
            const int64_t value = number.get_int64();
            return built(value >= 0 ? json(static_cast<uint64_t>(value)) : json(value), *out);
          }
          case od::number_type::unsigned_integer:
            return built(json(number.get_uint64()), *out);
          default:
            return built(json(number.get_double()), *out);
        }
      }
      case od::json_type::string: {
        std::string_view text;
        if (const auto error = element.get_string().get(text)) return error;
        return out == nullptr ? simdjson::SUCCESS : built(json(std::string(text)), *out);
      }
      case od::json_type::boolean: {
        bool value = false;
        if (const auto error = element.get_bool().get(value)) return error;
        return out == nullptr ? simdjson::SUCCESS : built(json(value), *out);
      }
      case od::json_type::null: {
        bool is_null = false;
        if (const auto error = element.is_null().get(is_null)) return error;
        if (!is_null) return simdjson::N_ATOM_ERROR;
        return out == nullptr ? simdjson::SUCCESS : built(json(nullptr), *out);
      }
    }
    return simdjson::INCORRECT_TYPE;
  }

  // A document that is a single scalar: On-Demand reads it through the document itself.
  simdjson::error_code convert_scalar(od::document& document, json& out) {
    od::json_type type;
    if (const auto error = document.type().get(type)) return error;
    switch (type) {
      case od::json_type::number: {
        od::number number;
        if (document.get_number().get(number) != simdjson::SUCCESS) {
          double value = 0;
          if (const auto error = document.get_double().get(value)) return error;
          out = value;
          return simdjson::SUCCESS;
        }
        if (number.is_int64()) {
          const int64_t value = number.get_int64();
          out = value >= 0 ? json(static_cast<uint64_t>(value)) : json(value);
        } else if (number.is_uint64()) {
          out = number.get_uint64();
        } else {
          out = number.get_double();
        }
        return simdjson::SUCCESS;
      }
      case od::json_type::string: {
        std::string_view text;
        if (const auto error = document.get_string().get(text)) return error;
        out = std::string(text);
        return simdjson::SUCCESS;
      }
      case od::json_type::boolean: {
        bool value = false;
        if (const auto error = document.get_bool().get(value)) return error;
        out = value;
        return simdjson::SUCCESS;
      }
      case od::json_type::null: {
        bool is_null = false;
        if (const auto error = document.is_null().get(is_null)) return error;
        out = nullptr;
        return is_null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
      }
      default:
        return simdjson::INCORRECT_TYPE;
    }
  }

  const std::string& error() const { return error_; }

 private:
  simdjson::error_code built(json value, json& out) {
    if (++values_ > max_values_) {
      error_ = "JSON has more than " + std::to_string(max_values_) +
               " values in the parts the webhook reads";
      return simdjson::CAPACITY;
    }
    out = std::move(value);
    return simdjson::SUCCESS;
  }

  simdjson::error_code too_deep() {
    error_ = "JSON nested more than " + std::to_string(max_depth_) + " levels deep";
    return simdjson::DEPTH_ERROR;
  }

  size_t max_depth_;
  size_t max_values_;
  size_t values_ = 0;
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

JsonParseResult parse_untrusted_json(std::string_view text, size_t max_depth, const JsonKeep* keep,
                                     size_t max_values) {
  JsonParseResult result;
  // One parser and one padded copy per worker thread, reused: scratch owned by the thread.
  thread_local od::parser reused_parser(kReusedCapacity);
  thread_local std::vector<char> reused_copy;
  std::unique_ptr<od::parser> own_parser;
  std::vector<char> own_copy;
  od::parser* parser = &reused_parser;
  std::vector<char>* copy = &reused_copy;
  if (text.size() > kReusedCapacity) {
    own_parser = std::make_unique<od::parser>(text.size());
    parser = own_parser.get();
    copy = &own_copy;
  }
  copy->resize(text.size() + simdjson::SIMDJSON_PADDING);
  if (!text.empty()) std::memcpy(copy->data(), text.data(), text.size());

  Converter converter(max_depth, max_values);
  json value;
  const auto failure = [&](simdjson::error_code error) {
    result.error = !converter.error().empty() ? converter.error()
                                              : std::string(simdjson::error_message(error));
    return result;
  };
  od::document document;
  if (const auto error =
          parser->iterate(simdjson::padded_string_view(copy->data(), text.size(), copy->size()))
              .get(document)) {
    return failure(error);
  }
  bool scalar = false;
  if (const auto error = document.is_scalar().get(scalar)) return failure(error);
  if (scalar) {
    if (const auto error = converter.convert_scalar(document, value)) return failure(error);
  } else {
    od::value root;
    if (const auto error = document.get_value().get(root)) return failure(error);
    if (const auto error = converter.convert(root, &value, 0, keep)) return failure(error);
  }
  // Something after the root value: the location is still in bounds.
  if (document.current_location().error() == simdjson::SUCCESS) {
    return failure(simdjson::TRAILING_CONTENT);
  }
  result.value = std::move(value);
  return result;
}

}  // namespace coderun::util
