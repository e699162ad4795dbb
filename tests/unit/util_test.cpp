#include <catch2/catch.hpp>
#include <filesystem>

#include "github/event_resolver.h"
#include "observability/log_throttle.h"
#include "test_support.h"
#include "util/base64.h"
#include "util/json_text.h"
#include "util/yaml_json.h"

using namespace coderun::util;

TEST_CASE("base64 matches RFC 4648 test vectors") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foob") == "Zm9vYg==");
  CHECK(base64_encode("fooba") == "Zm9vYmE=");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode(std::string("\xff\x00\x80", 3)) == "/wCA");
}

TEST_CASE(
    "untrusted JSON: depth limit, brackets inside strings, invalid UTF-8, numbers as nlohmann "
    "keeps them") {
  CHECK(parse_untrusted_json(R"({"a":[1,{"b":"[[[[[[[["}]})", 3).value);
  CHECK_THAT(parse_untrusted_json(R"({"a":[1,{"b":[]}]})", 3).error,
             Catch::Contains("nested more than 3"));
  CHECK_FALSE(parse_untrusted_json("{\"a\":\"\xff\"}", 8).value);
  CHECK_FALSE(parse_untrusted_json("", 8).value);
  CHECK_FALSE(parse_untrusted_json("{} x", 8).value);
  const auto numbers = parse_untrusted_json(R"([5, -3, 18446744073709551615, 1.5, 1e400])", 8);
  // 1e400 is out of range for a double: the whole document is refused, with the parser's reason.
  CHECK_FALSE(numbers.value);
  CHECK(numbers.error == "Problem while parsing a number");
  const auto small = parse_untrusted_json(R"([5, -3, 18446744073709551615, 1.5])", 8);
  REQUIRE(small.value);
  CHECK((*small.value)[0].is_number_unsigned());
  CHECK((*small.value)[1].get<long long>() == -3);
  CHECK((*small.value)[2].get<unsigned long long>() == 18446744073709551615ULL);
  CHECK((*small.value)[3].get<double>() == 1.5);
}

TEST_CASE("a keep tree prunes what is not read") {
  const JsonKeep all;
  const JsonKeep presence{JsonKeep::Mode::kPresence, {}};
  const JsonKeep head{JsonKeep::Mode::kMembers, {{"ref", &all}}};
  const JsonKeep root{JsonKeep::Mode::kMembers,
                      {{"head", &head}, {"comment", &presence}, {"list", &head}}};
  const auto parsed = parse_untrusted_json(
      R"({"head":{"ref":"x","big":[1,2,3]},"comment":{"body":"long"},"other":1,"list":[{"ref":"a","n":1}]})",
      16, &root);
  REQUIRE(parsed.value);
  CHECK(*parsed.value ==
        nlohmann::json::parse(R"({"head":{"ref":"x"},"comment":{},"list":[{"ref":"a"}]})"));
}

TEST_CASE("parts a keep tree skips are still checked, never built") {
  const JsonKeep all;
  const JsonKeep root{JsonKeep::Mode::kMembers, {{"a", &all}}};
  for (const std::string skipped : {"[1,}", "{\"x\" 1}", "nul", "\"bad\\x\"", "[1]]"}) {
    INFO(skipped);
    CHECK_FALSE(parse_untrusted_json(R"({"a":1,"b":)" + skipped + "}", 16, &root).value);
  }
  CHECK_FALSE(parse_untrusted_json(R"({"a":1} trailing)", 16, &root).value);
  // Nested deeper than the limit in a skipped part: refused all the same.
  CHECK_FALSE(parse_untrusted_json(
                  R"({"a":1,"b":)" + std::string(40, '[') + std::string(40, ']') + "}", 16, &root)
                  .value);
}

TEST_CASE("members a keep tree does not list get its `others` node") {
  const JsonKeep all;
  const JsonKeep presence{JsonKeep::Mode::kPresence, {}};
  JsonKeep root{JsonKeep::Mode::kMembers, {{"a", &all}}};
  root.others = &presence;
  const auto parsed = parse_untrusted_json(R"({"a":[1],"b":[2,3],"c":"s"})", 16, &root);
  REQUIRE(parsed.value);
  CHECK(*parsed.value == nlohmann::json::parse(R"({"a":[1],"b":[],"c":"s"})"));
}

TEST_CASE("what one document builds is capped; what it skips is not counted") {
  std::string many = "[";
  for (int i = 0; i < 1000; ++i) many += "[],";
  many += "[]]";
  const auto capped = parse_untrusted_json(many, 16, nullptr, 500);
  REQUIRE_FALSE(capped.value);
  CHECK_THAT(capped.error, Catch::Contains("more than 500 values"));
  CHECK(parse_untrusted_json(many, 16, nullptr, 1001 + 1).value);
  const JsonKeep all;
  const JsonKeep root{JsonKeep::Mode::kMembers, {{"a", &all}}};
  CHECK(parse_untrusted_json(R"({"a":1,"b":)" + many + "}", 16, &root, 5).value);
}

TEST_CASE("the DOM (fast path) and On-Demand build the same values from real payloads") {
  namespace detail = coderun::util::detail;
  std::vector<std::string> documents = {
      R"({"a":[1,-2,3.5,1e300,18446744073709551615,-9223372036854775808],"b":{"c":null}})",
      R"({"dup":1,"dup":2,"s":"\u00e9\ud83d\ude00\n"})",
      "[]",
      "{}",
      "\"text\"",
      "-0.0"};
  for (const auto& entry :
       std::filesystem::directory_iterator(coderun::testing::fixtures_dir() + "/github-events")) {
    documents.push_back(coderun::testing::read_text(entry.path().string()));
  }
  const JsonKeep presence{JsonKeep::Mode::kPresence, {}};
  for (const auto& text : documents) {
    for (const JsonKeep* keep :
         {static_cast<const JsonKeep*>(nullptr), &coderun::github::event_fields(), &presence}) {
      INFO(text.substr(0, 80));
      const auto dom = detail::parse_with_dom(text, 64, keep, kDefaultMaxJsonValues);
      const auto on_demand = detail::parse_on_demand(text, 64, keep, kDefaultMaxJsonValues);
      REQUIRE(dom);
      REQUIRE(on_demand.value);
      CHECK(*dom == *on_demand.value);
    }
  }
  // What the DOM refuses goes to On-Demand, which reads integers beyond 64 bits.
  CHECK_FALSE(detail::parse_with_dom("[100000000000000000000]", 64, nullptr, 10));
  CHECK(parse_untrusted_json("[100000000000000000000]", 64).value == nlohmann::json({1e20}));
}

TEST_CASE("YAML converts to JSON with core-schema scalars") {
  const auto value = yaml_to_json("a: 1\nb: 'quoted'\nc: true\nd: [x, 2.5]\ne: ~\nf: \"7\"\n");
  CHECK(value["a"] == 1);
  CHECK(value["b"] == "quoted");
  CHECK(value["c"] == true);
  CHECK(value["d"] == nlohmann::json::array({"x", 2.5}));
  CHECK(value["e"].is_null());
  CHECK(value["f"] == "7");
  CHECK_THROWS_AS(yaml_to_json("a: [unclosed"), std::runtime_error);
}

TEST_CASE("serialising never throws: invalid UTF-8 from a payload becomes U+FFFD") {
  const nlohmann::json value = {{"name", std::string("a\xff\"b")}, {"n", 1}};
  CHECK(dump_json(value) == "{\"n\":1,\"name\":\"a\xEF\xBF\xBD\\\"b\"}");
  std::string line = "prefix ";
  append_json(line, value);
  append_json(line, nlohmann::json(std::string("\x01")));
  CHECK(line == "prefix {\"n\":1,\"name\":\"a\xEF\xBF\xBD\\\"b\"}\"\\u0001\"");
}

TEST_CASE("a log throttle passes one line per key and interval, and counts the rest") {
  using coderun::observability::LogThrottle;
  LogThrottle throttle(std::chrono::seconds(10));
  const auto start = LogThrottle::Clock::now();
  CHECK(throttle.pass("400", start) == 0);
  CHECK_FALSE(throttle.pass("400", start + std::chrono::seconds(1)));
  CHECK_FALSE(throttle.pass("400", start + std::chrono::seconds(9)));
  CHECK(throttle.pass("413", start + std::chrono::seconds(9)) == 0);   // its own key
  CHECK(throttle.pass("400", start + std::chrono::seconds(10)) == 2);  // and 2 more since
  CHECK_FALSE(throttle.pass("400", start + std::chrono::seconds(11)));
  CHECK(throttle.pass("400", start + std::chrono::seconds(30)) == 1);
  CHECK(throttle.pass("400", start + std::chrono::seconds(40)) == 0);
}
