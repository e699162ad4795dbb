// The command line: strict numbers, flags checked against each command's declaration, and a
// --help that documents every declared flag exactly once.
#include <catch2/catch.hpp>
#include <set>

#include "cli/args.h"
#include "cli/help.h"

using namespace coderun::cli;

namespace {

std::string usage_error(const std::string& command, const std::vector<std::string>& words) {
  try {
    const Args args(*find_command(command), words);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("integers are decimal digits and nothing else, within long long") {
  CHECK(parse_integer("0") == 0);
  CHECK(parse_integer("8443") == 8443);
  CHECK(parse_integer("-1") == -1);
  CHECK(parse_integer("010") == 10);  // decimal, never octal
  CHECK(parse_integer("9223372036854775807") == 9223372036854775807LL);
  for (const char* bad : {"", " 1", "1 ", "+1", "1x", "0x10", "1e3", "1.0", "--1", "-",
                          "9223372036854775808", "18446744073709551615"}) {
    INFO(bad);
    CHECK_FALSE(parse_integer(bad));
  }
}

TEST_CASE("serve flags: values out of range are refused with the flag and its range") {
  CHECK(usage_error("serve", {"--port", "99999"}) ==
        "--port must be an integer from 0 to 65535 (0: any free port), not '99999'");
  CHECK(usage_error("serve", {"--threads=-1"}) ==
        "--threads must be an integer from 0 to 1024 (0: one per usable CPU), not '-1'");
  CHECK(usage_error("serve", {"--threads", "18446744073709551615"}) ==
        "--threads must be an integer from 0 to 1024 (0: one per usable CPU), not "
        "'18446744073709551615'");
  CHECK(usage_error("serve", {"--max-body-bytes", "-5"}) ==
        "--max-body-bytes must be an integer from 1 to 1073741824, not '-5'");
  CHECK(usage_error("serve", {"--max-connections", "0"}) ==
        "--max-connections must be an integer from 1 to 1048576, not '0'");
  CHECK(usage_error("serve", {"--read-timeout", "10s"}) ==
        "--read-timeout must be an integer from 1 to 86400, not '10s'");
  CHECK(usage_error("serve", {"--log-level", "verbose"}) ==
        "--log-level must be one of debug, info, warn, error, not 'verbose'");
  CHECK(usage_error("serve", {"--metrics-port", "-2"}) ==
        "--metrics-port must be an integer from -1 to 65535 (-1: off, 0: any free port), not "
        "'-2'");
  CHECK(usage_error("serve", {"--metrics-port", "-1", "--port", "0", "--threads", "1024"}).empty());
}

TEST_CASE("unknown flags, stray words, missing values and repeats are refused by name") {
  CHECK(usage_error("serve", {"--bogus", "1"}) ==
        "unknown flag --bogus (`coderun-webhook serve --help` lists the flags)");
  CHECK(usage_error("serve", {"--bogus=1"}) ==
        "unknown flag --bogus (`coderun-webhook serve --help` lists the flags)");
  CHECK(usage_error("review", {"-x"}) ==
        "unknown flag -x (`coderun-webhook review --help` lists the flags)");
  CHECK_THAT(usage_error("mutate", {"-f", "a.yaml", "b.yaml"}),
             Catch::StartsWith("unexpected argument 'b.yaml'"));
  CHECK(usage_error("serve", {"--port"}) ==
        "--port needs a value: an integer from 0 to 65535 (0: any free port)");
  CHECK(usage_error("serve", {"--policy", "--port", "1"}) == "--policy needs a value: a FILE");
  CHECK(usage_error("serve", {"--policy="}) == "--policy needs a value: a FILE");
  CHECK(usage_error("serve", {"--port", "1", "--port=2"}) == "--port is given more than once");
  CHECK(usage_error("review", {"--validate=false"}) == "--validate takes no value");
  CHECK(usage_error("serve", {"--port-file", "/nonexistent-dir/port"}) ==
        "--port-file /nonexistent-dir/port: directory /nonexistent-dir does not exist");
  CHECK(usage_error("serve", {"--metrics-port-file", "/"}) ==
        "--metrics-port-file / is a directory; it names the file to write");
}

TEST_CASE("the short -f and the long --file are one flag; values read back as given") {
  const Args short_form(*find_command("mutate"), {"-f", "wf.yaml", "--json"});
  CHECK(short_form.get("file") == "wf.yaml");
  CHECK(short_form.has("json"));
  CHECK_FALSE(short_form.has("event"));
  const Args long_form(*find_command("serve"), {"--port=0"});
  CHECK(long_form.get_number("port", 8443) == 0);
  CHECK(long_form.get_number("threads", 7) == 7);
  CHECK_THROWS_AS(long_form.get("no-such-flag"), std::logic_error);  // a typo in the code
  CHECK_THROWS_AS(long_form.get_number("policy", 0), std::logic_error);
}

TEST_CASE("help documents every declared flag exactly once, and nothing undeclared") {
  for (const auto& spec : command_specs()) {
    INFO(spec.name);
    std::multiset<std::string> documented;
    for (const auto& row : spec.rows) {
      CHECK_FALSE(row.default_text.empty());
      CHECK_FALSE(row.help.empty());
      for (const auto& name : row.flags) {
        CHECK(spec.find(name) != nullptr);
        documented.insert(name);
      }
    }
    for (const auto& flag : spec.flags) {
      INFO(flag.name);
      CHECK(documented.count(flag.name) == 1);
      CHECK_THAT(command_help(spec), Catch::Contains("--" + flag.name));
    }
    CHECK(documented.size() == spec.flags.size());
  }
}
