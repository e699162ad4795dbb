#include <catch2/catch.hpp>

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

TEST_CASE("nesting depth ignores brackets inside strings") {
  CHECK(json_nesting_depth(R"({"a":[1,{"b":"[[[["}]})") == 3);
  CHECK(json_nesting_depth(R"("\"[")") == 0);
  CHECK(json_nesting_depth("") == 0);
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
