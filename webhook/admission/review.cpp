#include "admission/review.h"

#include <array>
#include <set>

#include "util/base64.h"
#include "util/json_text.h"

namespace coderun::admission {
namespace {

using nlohmann::json;

constexpr std::string_view kApiVersion = "admission.k8s.io/v1";

std::string string_field(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string reason_for(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 403:
      return "Forbidden";
    case 413:
      return "RequestEntityTooLarge";
    case 422:
      return "Invalid";
    default:
      return code >= 500 ? "InternalError" : "Forbidden";
  }
}

// Keeps a member's presence and nothing of it: an object that cannot be built whole.
const util::JsonKeep kSkipped{util::JsonKeep::Mode::kMembers, {}, nullptr, false};

// What is built of a review: the request's fields this decoder returns, and `object` and
// `oldObject` as given (null: all of it); the rest is checked, never built. Made once per thread
// and combination (a server uses three).
const util::JsonKeep& review_fields(const util::JsonKeep* object, const util::JsonKeep* old) {
  using Keep = util::JsonKeep;
  static const Keep all;
  struct Fields {
    const Keep* object = nullptr;
    const Keep* old = nullptr;
    Keep request;
    Keep review;
  };
  thread_local std::array<Fields, 4> cache;
  thread_local size_t next = 0;
  for (const Fields& fields : cache) {
    if (!fields.review.members.empty() && fields.object == object && fields.old == old)
      return fields.review;
  }
  Fields& fields = cache[next++ % cache.size()];
  fields.object = object;
  fields.old = old;
  fields.request = Keep{Keep::Mode::kMembers,
                        {{"uid", &all},
                         {"kind", &all},
                         {"operation", &all},
                         {"namespace", &all},
                         {"name", &all},
                         {"dryRun", &all},
                         {"userInfo", &all},
                         {"object", object != nullptr ? object : &all},
                         {"oldObject", old != nullptr ? old : &all}}};
  fields.review = Keep{Keep::Mode::kMembers,
                       {{"apiVersion", &all}, {"kind", &all}, {"request", &fields.request}}};
  return fields.review;
}

// request.oldObject of an UPDATE, read on its own with a budget of its own: an object admitted
// within the budget stays updatable (argo stop) however large object and oldObject are together.
std::optional<json> read_old_object(std::string_view body, const ReviewLimits& limits,
                                    std::string& problem) {
  auto parsed = util::parse_untrusted_json(
      body, limits.max_depth, &review_fields(&kSkipped, limits.object_fields), limits.max_values);
  if (!parsed.value) {
    problem = "request.oldObject is too large to decide on: " + parsed.error;
    return std::nullopt;
  }
  const auto request = parsed.value->find("request");
  if (request == parsed.value->end() || !request->is_object()) return std::nullopt;
  const auto old = request->find("oldObject");
  if (old == request->end() || !old->is_object()) return std::nullopt;
  return std::move(*old);
}

}  // namespace

std::variant<Request, ReviewError> parse_review(std::string_view body, const ReviewLimits& limits) {
  // One pass reads both objects. Past the budget, oldObject is read apart (read_old_object), so
  // that each object has the whole budget: only reviews that large pay for a second pass.
  auto parsed = util::parse_untrusted_json(
      body, limits.max_depth, &review_fields(limits.object_fields, limits.object_fields),
      limits.max_values);
  bool old_object_apart = false;
  if (!parsed.value && parsed.too_many_values) {
    old_object_apart = true;
    parsed = util::parse_untrusted_json(
        body, limits.max_depth, &review_fields(limits.object_fields, &kSkipped), limits.max_values);
  }
  std::string object_problem;
  if (!parsed.value && parsed.too_many_values) {
    // Valid, but too much to build: read the review again without its object, so that the answer
    // is a denial the user sees rather than a failed webhook call.
    object_problem = "request.object is too large to decide on: " + parsed.error;
    parsed = util::parse_untrusted_json(body, limits.max_depth,
                                        &review_fields(&kSkipped, &kSkipped), limits.max_values);
  }
  if (!parsed.value) {
    return ReviewError{
        (parsed.too_many_values ? "review too large: " : "body is not valid JSON: ") +
        parsed.error};
  }
  json& review = *parsed.value;
  if (!review.is_object()) return ReviewError{"body is not an AdmissionReview object"};
  const std::string kind = string_field(review, "kind");
  const std::string api_version = string_field(review, "apiVersion");
  if (kind != "AdmissionReview") {
    return ReviewError{"kind is '" + kind + "', expected AdmissionReview"};
  }
  if (api_version != kApiVersion) {
    return ReviewError{"apiVersion is '" + api_version + "', expected " + std::string(kApiVersion) +
                       " (set admissionReviewVersions: [v1])"};
  }
  const auto request_it = review.find("request");
  if (request_it == review.end() || !request_it->is_object()) {
    return ReviewError{"request is missing or not an object"};
  }
  json& in = *request_it;
  Request request;
  request.review_api_version = api_version;
  request.uid = string_field(in, "uid");
  if (request.uid.empty()) return ReviewError{"request.uid is missing or empty"};
  if (const auto gvk = in.find("kind"); gvk != in.end() && gvk->is_object()) {
    request.kind = {string_field(*gvk, "group"), string_field(*gvk, "version"),
                    string_field(*gvk, "kind")};
  }
  request.operation = string_field(in, "operation");
  request.namespace_name = string_field(in, "namespace");
  request.name = string_field(in, "name");
  if (const auto dry_run = in.find("dryRun"); dry_run != in.end()) {
    request.dry_run = dry_run->is_boolean() && dry_run->get<bool>();
  }
  if (const auto user = in.find("userInfo"); user != in.end() && user->is_object()) {
    request.user_info.username = string_field(*user, "username");
    request.user_info.uid = string_field(*user, "uid");
    if (const auto groups = user->find("groups"); groups != user->end() && groups->is_array()) {
      for (const auto& group : *groups) {
        if (group.is_string()) request.user_info.groups.push_back(group.get<std::string>());
      }
    }
    request.user_info.service_account = service_account_of(request.user_info.username);
  }
  if (!object_problem.empty()) {
    request.object_problem = std::move(object_problem);
  } else if (const auto object = in.find("object"); object != in.end() && object->is_object()) {
    request.object = std::move(*object);
    if (request.operation == "UPDATE" && old_object_apart) {
      request.old_object = read_old_object(body, limits, request.object_problem);
      if (!request.object_problem.empty()) request.object.reset();
    } else if (request.operation == "UPDATE") {
      if (const auto old = in.find("oldObject"); old != in.end() && old->is_object())
        request.old_object = std::move(*old);
    }
  }
  return request;
}

std::vector<std::string> bounded_warnings(const std::vector<std::string>& warnings) {
  constexpr std::string_view kEllipsis = "...";
  constexpr size_t kSummaryReserve = 64;
  std::vector<std::string> kept;
  std::set<std::string> seen;
  size_t total = 0;  // as written in JSON, escapes included
  size_t left_out = 0;
  for (const auto& warning : warnings) {
    // Control characters (a parameter name can carry them) become '?': one byte on the wire,
    // as the API server's warning headers allow, instead of a six-byte \u escape.
    std::string text = warning;
    for (auto& c : text) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    }
    if (text.size() > kMaxWarningBytes) {
      size_t cut = kMaxWarningBytes - kEllipsis.size();
      while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
      text.resize(cut);
      text += kEllipsis;
    }
    if (!seen.insert(text).second) continue;                                  // identical, once cut
    const size_t written = util::dump_json(nlohmann::json(text)).size() + 1;  // quotes, comma
    if (left_out > 0 || total + written + kSummaryReserve > kMaxWarningsBytes) {
      ++left_out;
      continue;
    }
    total += written;
    kept.push_back(std::move(text));
  }
  if (left_out > 0) kept.push_back(std::to_string(left_out) + " more warnings not shown");
  return kept;
}

nlohmann::json Response::patch_operations() const {
  return patch.empty() ? nlohmann::json::array() : nlohmann::json::parse(patch);
}

Response Response::allow(std::string uid) {
  Response response;
  response.uid = std::move(uid);
  return response;
}

Response Response::deny(std::string uid, std::string message, int code) {
  Response response;
  response.uid = std::move(uid);
  response.allowed = false;
  response.code = code;
  response.message = std::move(message);
  response.reason = reason_for(code);
  return response;
}

std::string encode_review(const Response& response, std::string_view api_version) {
  // Written directly rather than as a json tree dumped: the base64 patch (kilobytes) needs no
  // escaping, and this runs for every request.
  const auto text = [](std::string_view value) { return util::dump_json(nlohmann::json(value)); };
  std::string out;
  out.reserve(256 + response.patch.size() * 4 / 3);
  out += R"({"apiVersion":)";
  out += text(api_version.empty() ? kApiVersion : api_version);
  out += R"(,"kind":"AdmissionReview","response":{"uid":)";
  out += text(response.uid);
  out += response.allowed ? R"(,"allowed":true)" : R"(,"allowed":false)";
  if (!response.allowed) {
    out += R"(,"status":{"code":)" + std::to_string(response.code) + R"(,"message":)" +
           text(response.message) + R"(,"reason":)" + text(response.reason) +
           R"(,"status":"Failure"})";
  }
  if (!response.patch.empty()) {
    out += R"(,"patchType":"JSONPatch","patch":")";
    out += util::base64_encode(response.patch);
    out += '"';
  }
  if (!response.warnings.empty()) {
    out += R"(,"warnings":)" + util::dump_json(bounded_warnings(response.warnings));
  }
  if (!response.audit_annotations.empty()) {
    out += R"(,"auditAnnotations":)" + util::dump_json(response.audit_annotations);
  }
  out += "}}";
  return out;
}

}  // namespace coderun::admission
