#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace coderun::github {

// What the `event` argument of a run carried, once unwrapped.
struct ParsedEvent {
  nlohmann::json body = nlohmann::json::object();  // the GitHub webhook body; {} when unusable
  std::string event_type;  // X-GitHub-Event of an Argo Events envelope; "" when not given
  bool envelope = false;   // true when the argument was {"headers"|"header": {...}, "body": {...}}
  // Why the argument could not be used (malformed JSON, not an object, too large...). The caller
  // turns it into an AdmissionResponse warning and an EventParseFailed Event; never a denial.
  std::optional<std::string> problem;
};

struct EventLimits {
  size_t max_bytes = 1 << 20;  // larger arguments are ignored with a warning
  size_t max_depth = 64;       // deeper JSON is ignored with a warning
};

// Accepts the GitHub body itself ({{events.github.body}}) and the whole Argo Events event
// ({"headers": {"X-Github-Event": ["push"]}, "body": {...}}, also spelled "header"). An empty
// argument or "{}" is simply no event. Never throws.
ParsedEvent parse_event_argument(std::string_view text, const EventLimits& limits);

// The same for an event that is already JSON (spec.event of a CodeRun, or an `event` argument
// written as a YAML mapping): the body itself or an envelope around it.
ParsedEvent unwrap_event(nlohmann::json event, const EventLimits& limits);

// Case-insensitive look-up of a header in an Argo Events envelope, whose values are arrays of
// strings (Go's http.Header) or plain strings.
std::optional<std::string> envelope_header(const nlohmann::json& headers, std::string_view name);

}  // namespace coderun::github
