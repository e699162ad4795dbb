// libFuzzer entry point (clang -fsanitize=fuzzer): `make fuzz`.
#include "fuzz_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  coderun::fuzzing::fuzz_one(data, size);
  return 0;
}
