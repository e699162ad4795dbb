#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "admission/user_info.h"
#include "util/json_text.h"

namespace coderun::admission {

struct GroupVersionKind {
  std::string group, version, kind;
};

// The parts of an AdmissionReview v1 request the webhook acts on.
struct Request {
  std::string review_api_version;  // echoed in the response
  std::string uid;
  GroupVersionKind kind;
  std::string operation;
  std::string namespace_name;
  std::string name;  // empty for generateName objects on the mutating pass
  bool dry_run = false;
  UserInfo user_info;  // request.userInfo: who creates or updates the object
  std::optional<nlohmann::json> object;  // request.object, when it is a JSON object
  // request.oldObject on UPDATE (read as request.object is), when it is a JSON object: an update
  // is checked only when it changes what the webhook guards.
  std::optional<nlohmann::json> old_object;
  // Why request.object is absent although the review carried one (more values in the fields read
  // than ReviewLimits::max_values): the decision denies with it.
  std::string object_problem;
};

// An AdmissionReview that cannot be answered at all: an HTTP 400 with this message.
struct ReviewError {
  std::string message;
};

struct ReviewLimits {
  size_t max_depth = 128;
  // Values built from the review: request.object and the rest together, and request.oldObject
  // of an UPDATE again on its own (an object admitted within the budget stays updatable). A real
  // run's kept fields are a few hundred (the event stays one string); 50,000 bound one tree to
  // ~6 MB.
  size_t max_values = 50'000;
  // What of request.object and request.oldObject the caller reads (null: all of it). The rest
  // of the review is checked as JSON but never built: a 3 MiB review of empty arrays cost
  // ~100 MB as a whole tree.
  const util::JsonKeep* object_fields = nullptr;
};

// Decodes an AdmissionReview (admission.k8s.io/v1). Never throws.
std::variant<Request, ReviewError> parse_review(std::string_view body, const ReviewLimits& limits);

// The answer to one request, independent of its JSON encoding.
struct Response {
  std::string uid;
  bool allowed = true;
  int code = 200;       // status.code on denials
  std::string message;  // status.message on denials
  std::string reason;   // status.reason on denials (e.g. Forbidden, BadRequest)
  std::string patch;    // RFC 6902 operations as JSON text; empty: no patch is sent
  std::vector<std::string> warnings;
  std::map<std::string, std::string> audit_annotations;

  // The patch parsed, for the offline commands and tests ([] when there is none).
  nlohmann::json patch_operations() const;

  static Response allow(std::string uid);
  static Response deny(std::string uid, std::string message, int code = 403);
};

// The warnings as the API server will keep them: control characters replaced, each at most
// kMaxWarningBytes (cut on a UTF-8 boundary, "..." added), identical ones once, kMaxWarningsBytes
// in all as written in JSON, the rest summed up in a last "N more warnings not shown". Kubernetes
// drops warnings past 4 KiB in all and truncates long ones; 60,000 duplicate parameters once made a
// 3 MB answer.
constexpr size_t kMaxWarningBytes = 120;
constexpr size_t kMaxWarningsBytes = 4096;
std::vector<std::string> bounded_warnings(const std::vector<std::string>& warnings);

// Encodes the AdmissionReview response: same apiVersion/kind as the request, patchType
// JSONPatch and a base64 patch only when the patch has operations, bounded warnings.
std::string encode_review(const Response& response, std::string_view api_version);

}  // namespace coderun::admission
