#include <catch2/catch.hpp>

#include "admission/review.h"
#include "decision/run_inputs.h"
#include "test_support.h"
#include "util/base64.h"

using namespace coderun::admission;

TEST_CASE("decodes the Kubernetes API's AdmissionReview test fixture") {
  const auto text = coderun::testing::read_text(
      coderun::testing::fixtures_dir() +
      "/admission/k8s-api-testdata/admission.k8s.io.v1.AdmissionReview.json");
  const auto parsed = parse_review(text, ReviewLimits{});
  REQUIRE(std::holds_alternative<Request>(parsed));
  const auto& request = std::get<Request>(parsed);
  CHECK(request.uid == "uidValue");
  CHECK(request.kind.group == "groupValue");
  CHECK(request.kind.kind == "kindValue");
  CHECK(request.operation == "operationValue");
  CHECK(request.namespace_name == "namespaceValue");
  CHECK(request.name == "nameValue");
  REQUIRE(request.object);
  CHECK((*request.object)["spec"]["replicas"] == 1);
}

TEST_CASE("decodes kubewarden's real pod reviews") {
  const auto text = coderun::testing::read_text(
      coderun::testing::fixtures_dir() +
      "/admission/kubewarden/kwctl.privileged-pod-admission-review.json");
  const auto parsed = parse_review(text, ReviewLimits{});
  REQUIRE(std::holds_alternative<Request>(parsed));
  CHECK(std::get<Request>(parsed).kind.kind == "Pod");
}

TEST_CASE("reviews that cannot be answered say why") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{", "not valid JSON"},
      {"[]", "not an AdmissionReview object"},
      {R"({"kind":"Pod","apiVersion":"v1"})", "expected AdmissionReview"},
      {R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1beta1","request":{"uid":"a"}})",
       "expected admission.k8s.io/v1"},
      {R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"})", "request is missing"},
      {R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":""}})",
       "uid"},
      {R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":7}})",
       "uid"},
      {std::string(1000, '[') + std::string(1000, ']'), "nested"},
  };
  for (const auto& [body, expected] : cases) {
    INFO(body.substr(0, 80));
    const auto parsed = parse_review(body, ReviewLimits{});
    REQUIRE(std::holds_alternative<ReviewError>(parsed));
    CHECK_THAT(std::get<ReviewError>(parsed).message, Catch::Contains(expected));
  }
}

TEST_CASE("an allowed response without a patch has no patch fields") {
  const auto out =
      nlohmann::json::parse(encode_review(Response::allow("u1"), "admission.k8s.io/v1"));
  CHECK(out["apiVersion"] == "admission.k8s.io/v1");
  CHECK(out["kind"] == "AdmissionReview");
  CHECK(out["response"]["uid"] == "u1");
  CHECK(out["response"]["allowed"] == true);
  CHECK_FALSE(out["response"].contains("patch"));
  CHECK_FALSE(out["response"].contains("patchType"));
}

TEST_CASE("a patch is sent base64-encoded with patchType JSONPatch") {
  Response response = Response::allow("u2");
  response.patch = R"([{"op":"add","path":"/spec/replicas","value":3}])";
  const auto out = nlohmann::json::parse(encode_review(response, "admission.k8s.io/v1"));
  CHECK(out["response"]["patchType"] == "JSONPatch");
  // The Kubernetes documentation's example encodes the same patch with spaces after ':' and ','.
  CHECK(out["response"]["patch"] ==
        coderun::util::base64_encode(R"([{"op":"add","path":"/spec/replicas","value":3}])"));
}

TEST_CASE("a denial carries code, message and reason") {
  Response response = Response::deny("u3", "Error: no", 403);
  response.warnings = {"w"};
  const auto out = nlohmann::json::parse(encode_review(response, "admission.k8s.io/v1"));
  CHECK(out["response"]["allowed"] == false);
  CHECK(out["response"]["status"]["code"] == 403);
  CHECK(out["response"]["status"]["message"] == "Error: no");
  CHECK(out["response"]["status"]["reason"] == "Forbidden");
  CHECK(out["response"]["warnings"] == nlohmann::json::array({"w"}));
}

TEST_CASE("invalid UTF-8 in a message is replaced, not thrown") {
  Response response = Response::deny("u4", std::string("bad \xff\xfe byte"), 403);
  const std::string text = encode_review(response, "admission.k8s.io/v1");
  CHECK(nlohmann::json::parse(text)["response"]["status"]["message"] ==
        "bad \xEF\xBF\xBD\xEF\xBF\xBD byte");
}

TEST_CASE("only what the decision reads of request.object and oldObject is built") {
  // 1.2 MB of empty arrays where nothing reads them: a Workflow's templates and its oldObject.
  std::string empties = "[";
  for (int i = 0; i < 300'000; ++i) empties += "[],";
  empties += "[]]";
  const std::string review =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",)"
      R"("kind":{"group":"argoproj.io","version":"v1alpha1","kind":"Workflow"},"operation":"CREATE",)"
      R"("object":{"metadata":{"name":"w","labels":{"a":"b"},"managedFields":)" +
      empties +
      R"(},"spec":{"arguments":{"parameters":[{"name":"github-app","value":"rex"}]},)"
      R"("templates":)" +
      empties + R"(},"status":{"nodes":)" + empties + R"(}},"oldObject":)" + empties + "}}";
  ReviewLimits limits;
  limits.object_fields = &coderun::decision::run_object_fields();
  const auto parsed = parse_review(review, limits);
  REQUIRE(std::holds_alternative<Request>(parsed));
  const auto& object = *std::get<Request>(parsed).object;
  CHECK(object == nlohmann::json::parse(R"({"metadata":{"name":"w","labels":{"a":"b"}},)"
                                        R"("spec":{"arguments":{"parameters":[)"
                                        R"({"name":"github-app","value":"rex"}]}}})"));
  // Built whole, the same review passes the cap on values: the request is still read (uid, kind)
  // so that the decision can deny it with the reason, not fail the webhook call.
  const auto whole = parse_review(review, ReviewLimits{});
  REQUIRE(std::holds_alternative<Request>(whole));
  const auto& request = std::get<Request>(whole);
  CHECK(request.uid == "u");
  CHECK(request.kind.kind == "Workflow");
  CHECK_FALSE(request.object);
  CHECK_THAT(request.object_problem, Catch::Contains("too large to decide on") &&
                                         Catch::Contains("more than 50000 values"));
  // Skipped parts are still JSON-checked.
  auto broken = review;
  broken.replace(broken.rfind("[],"), 3, "[,,");
  CHECK(std::holds_alternative<ReviewError>(parse_review(broken, limits)));
}

TEST_CASE("warnings are bounded as the API server bounds them") {
  std::vector<std::string> many;
  for (int i = 0; i < 60'000; ++i)
    many.push_back("parameter p" + std::to_string(i) + " is given twice");
  many.push_back(many.front());
  const auto kept = bounded_warnings(many);
  size_t total = 0;
  for (const auto& warning : kept) {
    CHECK(warning.size() <= kMaxWarningBytes);
    total += warning.size();
  }
  CHECK(total <= kMaxWarningsBytes);
  CHECK(kept.front() == "parameter p0 is given twice");
  CHECK_THAT(kept.back(), Catch::Matches(R"(\d+ more warnings not shown)"));
  CHECK(std::stoul(kept.back()) + kept.size() - 1 == 60'000);  // the repeated one is not counted

  // Long ones are cut on a character boundary, with an ellipsis.
  const auto cut = bounded_warnings({std::string(118, 'a') + "\xC3\xA9\xC3\xA9"});
  REQUIRE(cut.size() == 1);
  CHECK(cut[0].size() <= kMaxWarningBytes);
  CHECK(cut[0].substr(cut[0].size() - 3) == "...");
  CHECK(nlohmann::json(cut[0]).dump().find("\\ufffd") == std::string::npos);

  Response response = Response::allow("u");
  response.warnings = many;
  const auto encoded = nlohmann::json::parse(encode_review(response, "admission.k8s.io/v1"));
  CHECK(encoded["response"]["warnings"].dump().size() < 4096 + 1024);
}
