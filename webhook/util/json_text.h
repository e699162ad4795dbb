#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace coderun::util {

// Serialises without ever throwing: invalid UTF-8 from a payload becomes U+FFFD instead of an
// exception (nlohmann's default dump() throws type_error 316 on it).
std::string dump_json(const nlohmann::json& value, int indent = -1);
// The same, compact, appended to `out` with no intermediate string.
void append_json(std::string& out, const nlohmann::json& value);

struct JsonParseResult {
  std::optional<nlohmann::json> value;
  std::string error;             // empty on success
  bool too_many_values = false;  // valid JSON, but it would build more than max_values
};

// Which parts of a document to keep, as a tree of member names. Arrays pass their node on to
// their elements. Everything else is skipped without being built: the webhook reads a handful of
// fields of a 30 KB GitHub payload.
struct JsonKeep {
  enum class Mode {
    kAll,       // the whole subtree
    kPresence,  // scalars as they are; objects and arrays emptied (only their presence is read)
    kMembers,   // only the listed members
  };
  Mode mode = Mode::kAll;
  std::map<std::string, const JsonKeep*, std::less<>> members;
  const JsonKeep* others = nullptr;  // kMembers: what unlisted members get; null: skipped
  // kMembers: whether an array met here builds its elements (each read with this same keep);
  // false: only its presence, where an object is expected and an array would be all cost.
  bool elements = true;
};

// What one document may build: past it, parsing stops with an error. Each value built costs
// 50-150 bytes in nlohmann::json; 200,000 of them stay within ~25 MB.
constexpr size_t kDefaultMaxJsonValues = 200'000;

// Parses untrusted JSON text: never throws; refuses invalid JSON anywhere in the document (the
// skipped parts are checked too), invalid UTF-8, documents nested deeper than max_depth (so
// nothing built from it recurses without bound) and documents that would build more than
// max_values values. Skipped parts are checked and never built. simdjson parses: its DOM for
// small documents (fast), its On-Demand API for large ones (a DOM of a 3 MiB structure-dense
// document costs ~36 MB). The result is an nlohmann::json, pruned to `keep` when given.
JsonParseResult parse_untrusted_json(std::string_view text, size_t max_depth,
                                     const JsonKeep* keep = nullptr,
                                     size_t max_values = kDefaultMaxJsonValues);

// Whether two documents read the same through `keep`: what parse_untrusted_json would build of
// each compares equal. Lets a caller compare the parts it reads of two objects, however they were
// built (whole, or pruned by the decoder), without copying either.
bool equal_as_kept(const nlohmann::json& a, const nlohmann::json& b, const JsonKeep& keep);

namespace detail {
// The two engines behind parse_untrusted_json, apart, so that tests can hold them to the same
// results: simdjson's DOM (SIMD kernels chosen at run time: the fast path, for documents up to
// 256 KiB; nullopt for larger ones and for any it refuses) and On-Demand (no tape of the whole
// document: large documents, integers beyond 64 bits, and every error's verdict).
std::optional<nlohmann::json> parse_with_dom(std::string_view text, size_t max_depth,
                                             const JsonKeep* keep, size_t max_values);
JsonParseResult parse_on_demand(std::string_view text, size_t max_depth, const JsonKeep* keep,
                                size_t max_values);
}  // namespace detail

}  // namespace coderun::util
