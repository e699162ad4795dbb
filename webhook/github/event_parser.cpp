#include "github/event_parser.h"

#include <algorithm>
#include <cctype>

#include "github/event_resolver.h"
#include "util/ascii.h"
#include "util/json_text.h"

namespace coderun::github {
namespace {

using util::iequals;

bool is_blank(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; });
}

const nlohmann::json* envelope_headers(const nlohmann::json& event) {
  for (const char* key : {"headers", "header"}) {
    const auto it = event.find(key);
    if (it != event.end() && it->is_object()) return &*it;
  }
  return nullptr;
}

}  // namespace

std::optional<std::string> envelope_header(const nlohmann::json& headers, std::string_view name) {
  for (const auto& [key, value] : headers.items()) {
    if (!iequals(key, name)) continue;
    if (value.is_string()) return value.get<std::string>();
    if (value.is_array() && !value.empty() && value.front().is_string()) {
      return value.front().get<std::string>();
    }
  }
  return std::nullopt;
}

ParsedEvent parse_event_argument(std::string_view text, const EventLimits& limits) {
  ParsedEvent parsed;
  if (is_blank(text)) return parsed;
  if (text.size() > limits.max_bytes) {
    parsed.problem = "event is " + std::to_string(text.size()) + " bytes, more than the limit of " +
                     std::to_string(limits.max_bytes) + "; ignored";
    return parsed;
  }
  auto document = util::parse_untrusted_json(text, limits.max_depth, &event_fields());
  if (!document.value) {
    parsed.problem = "event ignored, not valid JSON: " + document.error;
    return parsed;
  }
  return unwrap_event(std::move(*document.value), limits);
}

ParsedEvent unwrap_event(nlohmann::json event, const EventLimits& limits) {
  ParsedEvent parsed;
  if (!event.is_object()) {
    parsed.problem =
        std::string("event is a JSON ") + event.type_name() + ", not an object; ignored";
    return parsed;
  }
  const nlohmann::json* headers = envelope_headers(event);
  const auto body = event.find("body");
  if (headers != nullptr && body != event.end()) {
    parsed.envelope = true;
    parsed.event_type = envelope_header(*headers, "X-GitHub-Event").value_or("");
    if (body->is_object()) {
      parsed.body = std::move(*body);
    } else if (body->is_string()) {
      // Some sensors pass the body as a JSON string rather than an object.
      auto inner = util::parse_untrusted_json(body->get_ref<const std::string&>(), limits.max_depth,
                                              &event_fields());
      if (inner.value && inner.value->is_object()) {
        parsed.body = std::move(*inner.value);
      } else {
        parsed.problem = "event envelope's body is not a JSON object; ignored";
      }
    } else {
      parsed.problem = "event envelope's body is not a JSON object; ignored";
    }
    return parsed;
  }
  parsed.body = std::move(event);
  return parsed;
}

}  // namespace coderun::github
