#include "util/json_text.h"

#include <simdjson.h>

#include <cstring>
#include <memory>
#include <optional>
#include <vector>

namespace coderun::util {
namespace {

using nlohmann::json;

// Documents up to this size reuse a per-thread parser and padded copy (their buffers stay
// allocated); larger ones get their own, freed after, so a rare 3 MiB review does not pin
// megabytes per worker.
constexpr size_t kReusedCapacity = 256 * 1024;

namespace od = simdjson::ondemand;

// What both engines share: the depth and values limits, and the first error's text.
class Limits {
 public:
  Limits(size_t max_depth, size_t max_values) : max_depth_(max_depth), max_values_(max_values) {}
  const std::string& error() const { return error_; }
  bool too_many_values() const { return values_ > max_values_; }

 protected:
  // Counts one value and stores it (assigned straight into `out`: no temporary json per node).
  template <typename Value>
  simdjson::error_code built(Value&& value, json& out) {
    if (++values_ > max_values_) {
      error_ = "JSON has more than " + std::to_string(max_values_) +
               " values in the parts the webhook reads";
      return simdjson::CAPACITY;
    }
    out = std::forward<Value>(value);
    return simdjson::SUCCESS;
  }

  simdjson::error_code too_deep() {
    error_ = "JSON nested more than " + std::to_string(max_depth_) + " levels deep";
    return simdjson::DEPTH_ERROR;
  }

  // The node the member `key` of an object kept as `keep` gets; null: not built.
  static const JsonKeep* member_keep(const JsonKeep* keep, std::string_view key) {
    if (keep == nullptr || keep->mode != JsonKeep::Mode::kMembers) return keep;
    const auto found = keep->members.find(key);
    return found != keep->members.end() ? found->second : keep->others;
  }

  // nlohmann keeps non-negative integers unsigned; so do both engines, so their trees compare
  // equal.
  static json integer(int64_t value) {
    return value >= 0 ? json(static_cast<uint64_t>(value)) : json(value);
  }

  // Whether a member is left unbuilt: listed members only, and `others` unset.
  static bool skipped(const JsonKeep* keep, const JsonKeep* member) {
    return keep != nullptr && keep->mode == JsonKeep::Mode::kMembers && member == nullptr;
  }

  static bool builds_children(const JsonKeep* keep) {
    return !(keep != nullptr && keep->mode == JsonKeep::Mode::kPresence);
  }

  static bool builds_elements(const JsonKeep* keep) {
    return builds_children(keep) &&
           !(keep != nullptr && keep->mode == JsonKeep::Mode::kMembers && !keep->elements);
  }

  size_t max_depth_;

 private:
  size_t max_values_;
  size_t values_ = 0;
  std::string error_;
};

// simdjson's DOM: its SIMD kernels are chosen at run time, so it is the fast path; its tape costs
// ~12 bytes per byte of a structure-dense document, so it only reads small ones.
class DomConverter : public Limits {
 public:
  using Limits::Limits;

  simdjson::error_code convert(simdjson::dom::element element, json& out, size_t depth,
                               const JsonKeep* keep) {
    using Type = simdjson::dom::element_type;
    switch (element.type()) {
      case Type::ARRAY: {
        if (depth + 1 > max_depth_) return too_deep();
        if (const auto error = built(json::array(), out)) return error;
        if (!builds_elements(keep)) return simdjson::SUCCESS;
        const simdjson::dom::array array = element.get_array().value_unsafe();  // not a temporary
        for (const auto child : array) {
          if (const auto error = convert(child, out.emplace_back(), depth + 1, keep)) return error;
        }
        return simdjson::SUCCESS;
      }
      case Type::OBJECT: {
        if (depth + 1 > max_depth_) return too_deep();
        if (const auto error = built(json::object(), out)) return error;
        if (!builds_children(keep)) return simdjson::SUCCESS;
        const simdjson::dom::object object = element.get_object().value_unsafe();
        for (const auto field : object) {
          const JsonKeep* child_keep = member_keep(keep, field.key);
          if (skipped(keep, child_keep)) continue;
          if (const auto error =
                  convert(field.value, out[std::string(field.key)], depth + 1, child_keep))
            return error;
        }
        return simdjson::SUCCESS;
      }
      case Type::INT64:
        return built(integer(element.get_int64().value_unsafe()), out);
      case Type::UINT64:
        return built(element.get_uint64().value_unsafe(), out);
      case Type::DOUBLE:
        return built(element.get_double().value_unsafe(), out);
      case Type::STRING: {
        const std::string_view text = element.get_string().value_unsafe();
        return built(json::string_t(text), out);
      }
      case Type::BOOL:
        return built(element.get_bool().value_unsafe(), out);
      case Type::NULL_VALUE:
        return built(nullptr, out);
    }
    return simdjson::INCORRECT_TYPE;
  }
};

// simdjson On-Demand: no tape of the whole document, so large documents cost ~5 bytes per byte
// at most; its value parsing is compiled for the baseline CPU (slower), and it reads what the
// DOM refuses (integers beyond 64 bits), so it also gives every error its verdict.
class OnDemandConverter : public Limits {
 public:
  using Limits::Limits;

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
        const bool children = out != nullptr && builds_elements(keep);
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
        const bool children = out != nullptr && builds_children(keep);
        for (auto member : object) {
          od::field field;
          if (const auto error = std::move(member).get(field)) return error;
          std::string_view key;
          if (const auto error = field.unescaped_key().get(key)) return error;
          const JsonKeep* child_keep = member_keep(keep, key);
          const bool wanted = children && !skipped(keep, child_keep);
          json* slot = wanted ? &(*out)[std::string(key)] : nullptr;
          if (const auto error = convert(field.value(), slot, depth + 1, child_keep)) return error;
        }
        return simdjson::SUCCESS;
      }
      default:
        return read_scalar(element, type, out);
    }
  }

  // A document that is a single scalar: On-Demand reads it through the document itself.
  simdjson::error_code convert_scalar(od::document& document, json& out) {
    od::json_type type;
    if (const auto error = document.type().get(type)) return error;
    return read_scalar(document, type, &out);
  }

 private:
  // A number, string, boolean or null, read through a value or a whole-document scalar (the two
  // have the same accessors); out == nullptr: check only.
  template <typename Source>
  simdjson::error_code read_scalar(Source& source, od::json_type type, json* out) {
    switch (type) {
      case od::json_type::number: {
        od::number number;
        if (source.get_number().get(number) != simdjson::SUCCESS) {
          // An integer beyond 64 bits is valid JSON (Go writes 1e20 as 100000000000000000000):
          // read as a double, as Go and nlohmann do.
          double value = 0;
          if (const auto error = source.get_double().get(value)) return error;
          return out == nullptr ? simdjson::SUCCESS : built(value, *out);
        }
        if (out == nullptr) return simdjson::SUCCESS;
        switch (number.get_number_type()) {
          case od::number_type::signed_integer:
            return built(integer(number.get_int64()), *out);
          case od::number_type::unsigned_integer:
            return built(number.get_uint64(), *out);
          default:
            return built(number.get_double(), *out);
        }
      }
      case od::json_type::string: {
        std::string_view text;
        if (const auto error = source.get_string().get(text)) return error;
        return out == nullptr ? simdjson::SUCCESS : built(json::string_t(text), *out);
      }
      case od::json_type::boolean: {
        bool value = false;
        if (const auto error = source.get_bool().get(value)) return error;
        return out == nullptr ? simdjson::SUCCESS : built(value, *out);
      }
      case od::json_type::null: {
        bool is_null = false;
        if (const auto error = source.is_null().get(is_null)) return error;
        if (!is_null) return simdjson::N_ATOM_ERROR;
        return out == nullptr ? simdjson::SUCCESS : built(nullptr, *out);
      }
      default:
        return simdjson::INCORRECT_TYPE;
    }
  }
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

namespace detail {

std::optional<json> parse_with_dom(std::string_view text, size_t max_depth, const JsonKeep* keep,
                                   size_t max_values) {
  // One parser per worker thread, reused: scratch owned by the thread; only small documents.
  thread_local simdjson::dom::parser parser(kReusedCapacity);
  if (text.size() > kReusedCapacity) return std::nullopt;
  // The parser's own depth limit covers the parts that are skipped, not walked. It counts at
  // least as strictly as max_depth (an object max_depth deep already fails it), and whatever it
  // refuses goes to On-Demand, which counts exactly.
  if (parser.max_depth() != max_depth &&
      parser.allocate(kReusedCapacity, max_depth) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  simdjson::dom::element root;
  if (parser.parse(text.data(), text.size()).get(root) != simdjson::SUCCESS) return std::nullopt;
  DomConverter converter(max_depth, max_values);
  json value;
  if (converter.convert(root, value, 0, keep) != simdjson::SUCCESS) return std::nullopt;
  return value;
}

JsonParseResult parse_on_demand(std::string_view text, size_t max_depth, const JsonKeep* keep,
                                size_t max_values) {
  JsonParseResult result;
  // One parser and one padded copy per worker thread, reused; large documents get their own,
  // freed after.
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

  OnDemandConverter converter(max_depth, max_values);
  json value;
  const auto failure = [&](simdjson::error_code error) {
    result.error = !converter.error().empty() ? converter.error()
                                              : std::string(simdjson::error_message(error));
    result.too_many_values = converter.too_many_values();
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

}  // namespace detail

namespace {

// Equal values of equal types, all the way down: nlohmann's == finds 9007199254740993 equal to
// 9007199254740992.0, which the decision reads differently (an integer, a number it ignores).
bool same_value(const json& a, const json& b) {
  // Signed and unsigned integers are one kind to every reader; floats are another.
  if (a.is_number_integer() && b.is_number_integer()) return a == b;
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!same_value(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(), other = b.begin(); it != a.end(); ++it, ++other) {
      if (it.key() != other.key() || !same_value(*it, *other)) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace

bool equal_as_kept(const json& a, const json& b, const JsonKeep& keep) {
  switch (keep.mode) {
    case JsonKeep::Mode::kAll:
      return same_value(a, b);
    case JsonKeep::Mode::kPresence:
      if (a.is_structured() || b.is_structured()) return a.type() == b.type();
      return same_value(a, b);
    case JsonKeep::Mode::kMembers:
      break;
  }
  if (a.is_array() && b.is_array()) {
    if (!keep.elements) return true;
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!equal_as_kept(a[i], b[i], keep)) return false;
    }
    return true;
  }
  if (!a.is_object() || !b.is_object()) return same_value(a, b);
  // A member read in one and absent in the other differs; unread members never do.
  const auto read_equal = [&](const json& from, const json& other) {
    for (const auto& [key, value] : from.items()) {
      const auto found = keep.members.find(key);
      const JsonKeep* member = found != keep.members.end() ? found->second : keep.others;
      if (member == nullptr) continue;
      const auto it = other.find(key);
      if (it == other.end() || !equal_as_kept(value, *it, *member)) return false;
    }
    return true;
  };
  return read_equal(a, b) && read_equal(b, a);
}

JsonParseResult parse_untrusted_json(std::string_view text, size_t max_depth, const JsonKeep* keep,
                                     size_t max_values) {
  // The DOM for a small document that parses (nearly every one); On-Demand for a large one, and
  // for any the DOM refuses, so that the verdict and its message never depend on the path.
  if (auto value = detail::parse_with_dom(text, max_depth, keep, max_values)) {
    return {std::move(value), {}};
  }
  return detail::parse_on_demand(text, max_depth, keep, max_values);
}

}  // namespace coderun::util
