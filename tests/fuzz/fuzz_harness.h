#pragma once
#include <cstddef>
#include <cstdint>

namespace coderun::fuzzing {

// One fuzz input, used three ways: as an AdmissionReview body (both passes), as the `event`
// argument of a served Workflow and of a CodeRun, and as a GitHub body for the resolver. Aborts
// when an invariant breaks: a patch that does not apply, a second mutation that is not empty, an
// answer that is not valid JSON.
void fuzz_one(const uint8_t* data, size_t size);

}  // namespace coderun::fuzzing
