// Replays what the fuzzer found (tests/fuzz/regressions) and a seed per fixture through the same
// harness as `make fuzz`, so every finding stays fixed in every build, sanitized ones included.
#include <catch2/catch.hpp>
#include <filesystem>

#include "../fuzz/fuzz_harness.h"
#include "test_support.h"

namespace {
void replay(const std::string& text) {
  coderun::fuzzing::fuzz_one(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}
}  // namespace

TEST_CASE("fuzz regressions replay without breaking an invariant") {
  const std::filesystem::path dir =
      std::filesystem::path(CODERUN_SOURCE_DIR) / "tests" / "fuzz" / "regressions";
  size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().filename() == "README.md") continue;
    INFO(entry.path());
    replay(coderun::testing::read_text(entry.path().string()));
    ++count;
  }
  CHECK(count > 0);
}

TEST_CASE("every GitHub fixture goes through the fuzz harness") {
  for (const auto& name : coderun::testing::event_fixture_names()) {
    INFO(name);
    replay(coderun::testing::read_text(coderun::testing::fixtures_dir() + "/github-events/" + name +
                                       ".json"));
  }
}
