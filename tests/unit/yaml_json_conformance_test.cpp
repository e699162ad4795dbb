// YAML as sigs.k8s.io/yaml reads it, On-Demand review decoding and bounded warnings, checked
// against go-yaml v2's resolve.go, strconv and encoding/json by an adversarial review; each case
// below once failed.
#include <catch2/catch.hpp>
#include <string>
#include <variant>
#include <vector>

#include "admission/review.h"
#include "util/json_text.h"
#include "util/yaml_json.h"
#include "util/yaml_scalar.h"

using coderun::util::dump_json;
using coderun::util::parse_untrusted_json;
using coderun::util::parse_yaml;
using coderun::util::resolve_plain_scalar;

namespace {

// What the webhook writes back into a podSpecPatch: util::dump_json of parse_yaml's value
// (decision/workflow_mutation.cpp). sigs.k8s.io/yaml writes json.Marshal of the same document.
std::string yaml_as_written(const std::string& yaml) {
  auto parsed = parse_yaml(yaml);
  if (!parsed.value) return "ERROR: " + parsed.error;
  return dump_json(*parsed.value);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Rules that hold (checked against go-yaml v2 resolve.go, strconv, encoding/json).
// ---------------------------------------------------------------------------------------------

TEST_CASE("conformance: plain scalars resolve as go-yaml v2 resolves them", "[conformance]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"0o17", "15"},
      {"0b101", "5"},
      {"-0x10", "-16"},
      {"+12", "12"},
      {"1_000", "1000"},
      {"0_7", "7"},
      {"09", "9"},  // float 9, written by encoding/json as 9
      {"08.5", "8.5"},
      {"1e3", "1000"},
      {".5", "0.5"},
      {"-.5e-3", "-0.0005"},
      {"1.0", "1"},
      {"80.0", "80"},
      {"1e400", R"("1e400")"},  // ParseFloat fails with ErrRange: kept as the string
      {"1e-400", "0"},          // underflow is not an error in ParseFloat
      {"9223372036854775808", "9223372036854775808"},  // ParseUint
      {"-0", "0"},
      {"y", "true"},
      {"Y", "true"},
      {"yes", "true"},
      {"on", "true"},
      {"Off", "false"},
      {"oFF", R"("oFF")"},
      {"~", "null"},
      {"Null", "null"},
      {"NULL", "null"},
      {"2001-12-14", R"("2001-12-14")"},  // a timestamp decoded into interface{} stays a string
      {"0x", R"("0x")"},
      {"0x1p3", R"("0x1p3")"},
      {"+.5", "0.5"},
  };
  for (const auto& [yaml, json] : cases) {
    INFO(yaml);
    CHECK(yaml_as_written("a: " + yaml) == R"({"a":)" + json + "}");
  }
}

TEST_CASE("conformance: keys and refusals", "[conformance]") {
  CHECK(yaml_as_written("1: a") == R"({"1":"a"})");
  CHECK(yaml_as_written("0x10: a") == R"({"16":"a"})");
  CHECK(yaml_as_written("yes: a") == R"({"true":"a"})");
  CHECK(yaml_as_written("'<<': a") == R"({"<<":"a"})");  // quoted: not a merge key in go-yaml
  for (const char* refused :
       {"<<: {a: 1}", "a: &x 1", "a: *x", "a: !!str 1", "~: a", "9223372036854775808: a",
        "a: 1\na: 2", "1: a\n'1': b", "a: .inf", "a: .NaN", "---\na: 1\n---\nb: 2"}) {
    INFO(refused);
    CHECK_FALSE(parse_yaml(refused).value);
  }
}

// ---------------------------------------------------------------------------------------------
// 5b3042e mismatches.
// ---------------------------------------------------------------------------------------------

// resolve.go, case 'D','S', after ParseInt/ParseUint/yamlStyleFloat fail:
//   if strings.HasPrefix(plain, "0b") { intv, err := strconv.ParseInt(plain[2:], 2, 64) ...
// ParseInt takes a sign in any base, so "0b-101" is -5 and "0b+101" is 5 for go-yaml.
TEST_CASE("conformance: go-yaml's 0b fallback reads a sign after the prefix") {
  CHECK(yaml_as_written("a: 0b-101") == R"({"a":-5})");
  CHECK(yaml_as_written("a: 0b+101") == R"({"a":5})");
}

// resolve.go, case '.': strconv.ParseFloat(in, 64) on the scalar as written (underscores not
// removed, no yamlStyleFloat check). strconv's readFloat skips '_' and accepts the number when
// underscoreOK() does (underscores only between digits), so ".5_0" is 0.5.
TEST_CASE("conformance: a float starting with '.' may carry underscores") {
  CHECK(yaml_as_written("a: .5_0") == R"({"a":0.5})");
  CHECK(yaml_as_written("a: .1_5e1") == R"({"a":1.5})");
}

// encoding/json floatEncoder: 'f' format (shortest digits, then zeros) for 1e-6 <= |x| < 1e21,
// 'e' below 1e-6. The spelling written back may differ (1e-05 for 0.00001), never the value a Go
// field of any type reads from it: the same float64, or the same integer where Go writes an
// integer literal (80.0 as 80, -0.0 as 0).
TEST_CASE("conformance: floats are written with the value encoding/json writes", "[conformance]") {
  const auto value_of = [](const std::string& yaml) {
    return nlohmann::json::parse(yaml_as_written(yaml))["a"];
  };
  CHECK(value_of("a: 0.00001").get<double>() == 0.00001);
  CHECK(value_of("a: 1e-7").get<double>() == 1e-7);
  CHECK(value_of("a: 1e20").get<double>() == 1e20);
  CHECK(value_of("a: 18446744073709551616").get<double>() == 18446744073709551616.0);
  CHECK(value_of("a: 80.0").is_number_integer());
  CHECK(value_of("a: -0.0") == 0);
  CHECK(value_of("a: -1e-400") == 0);
}

// The one above that changes a value, not only its spelling: float64(2^62) is written by
// strconv.AppendFloat(f, 'f', -1, 64) as 4611686018427388000 (shortest digits padded with zeros);
// an int64 field reads 4611686018427388000 from Argo's JSON, 4611686018427387904 from ours.
TEST_CASE("conformance: integral floats above 2^53 keep Go's shortest digits") {
  CHECK(yaml_as_written("activeDeadlineSeconds: 4611686018427387904.0") ==
        R"({"activeDeadlineSeconds":4611686018427388000})");
  CHECK(yaml_as_written("activeDeadlineSeconds: 1152921504606846976.0") ==
        R"({"activeDeadlineSeconds":1152921504606847000})");
}

// ---------------------------------------------------------------------------------------------
// 7aa06dd: valid JSON refused.
// ---------------------------------------------------------------------------------------------

// RFC 8259 section 6 puts no range on numbers. The API server writes a float64 of 2^64 or more
// (below 1e21) without exponent (encoding/json 'f' format), e.g. a CRD field holding 1e20 or
// 18446744073709551616 comes back as 100000000000000000000 / 18446744073709552000. simdjson
// 3.0.1's get_number() returns NUMBER_ERROR for an integer literal outside int64/uint64, so the
// whole review, though it is valid JSON and the number sits in oldObject, is answered with 400
// (failurePolicy Fail: the request is refused).
TEST_CASE("conformance: integers beyond 64 bits are valid JSON") {
  for (const char* number : {"18446744073709552000", "100000000000000000000",
                             "-9223372036854776000", "123456789012345678901234567890"}) {
    INFO(number);
    const auto parsed = parse_untrusted_json(std::string("[") + number + "]", 64);
    CHECK(parsed.value.has_value());
    CHECK(parsed.error.empty());
  }
}

TEST_CASE("conformance: a big integer in oldObject does not make the review unreadable") {
  const std::string body =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{)"
      R"("uid":"u","kind":{"group":"argoproj.io","version":"v1alpha1","kind":"Workflow"},)"
      R"("operation":"UPDATE","object":{"spec":{}},)"
      R"("oldObject":{"spec":{"activeDeadlineSeconds":100000000000000000000}}}})";
  const auto parsed = coderun::admission::parse_review(body, coderun::admission::ReviewLimits{});
  CHECK(std::holds_alternative<coderun::admission::Request>(parsed));
  if (const auto* error = std::get_if<coderun::admission::ReviewError>(&parsed)) {
    INFO(error->message);
    CHECK(error->message.empty());
  }
}

// ---------------------------------------------------------------------------------------------
// b18b863: bounded_warnings.
// ---------------------------------------------------------------------------------------------

// "identical ones once": two warnings that differ only past the cut come out identical, twice.
TEST_CASE("conformance: warnings identical after the cut are kept once") {
  const std::string stem = "parameter " + std::string(150, 'x');
  const auto kept = coderun::admission::bounded_warnings(
      {stem + "1 is given twice; the first is used", stem + "2 is given twice; the first is used"});
  REQUIRE(kept.size() >= 1);
  CHECK(kept.size() == 1);
}

// The 4 KiB is counted on the unescaped text: a parameter name of control characters (its name
// is quoted into "parameter NAME is given twice; the first is used") is written as \u0001, six
// bytes each, so the warnings on the wire reach ~24 KiB. Same check as the commit's own test
// (< 4096 + 1024), with such names.
TEST_CASE("conformance: warnings are bounded on the wire, after JSON escaping") {
  std::vector<std::string> warnings;
  for (int i = 0; i < 200; ++i)
    warnings.push_back("parameter " + std::to_string(i) + std::string(100, '\x01') +
                       " is given twice; the first is used");
  coderun::admission::Response response = coderun::admission::Response::allow("u");
  response.warnings = warnings;
  const std::string encoded = coderun::admission::encode_review(response, "admission.k8s.io/v1");
  const auto start = encoded.find(R"("warnings":)");
  REQUIRE(start != std::string::npos);
  const auto end = encoded.find(']', start);
  CHECK(end - start < 4096 + 1024);
}
