#pragma once
#include <nlohmann/json.hpp>
#include <string_view>

#include "github/event_context.h"
#include "util/json_text.h"

namespace coderun::github {

// Resolves owner, repo, ref, sha, PR and issue numbers from a GitHub webhook body. A pure
// function: no I/O, never throws, ignores values of the wrong JSON type (with a note).
// event_type is the X-GitHub-Event header when known, else "" (it is then inferred).
EventContext resolve_event(const nlohmann::json& body, std::string_view event_type = {});

// The parts of a GitHub body (or of an Argo Events envelope around one) that resolve_event reads:
// parsing keeps only these, so a 30 KB payload becomes a tree of a few dozen nodes.
const util::JsonKeep& event_fields();

// refs/heads/x -> x, refs/tags/x -> x; other refs (refs/pull/N/head) unchanged.
std::string normalize_ref(std::string_view ref);

// The event type a payload of this shape is delivered as ("" when it cannot be told).
std::string infer_event_type(const nlohmann::json& body);

}  // namespace coderun::github
