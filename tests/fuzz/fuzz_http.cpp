// libFuzzer target for the HTTP/1.x request parser (`make fuzz`). Invariants, beyond not crashing:
// reading the input whole or in pieces gives the same requests and the same error; a complete
// request never claims more bytes than it was given nor a body over the limit; pipelined requests
// are read until the input runs out.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "server/http_request_parser.h"

namespace {

using coderun::server::HttpLimits;
using coderun::server::HttpRequestParser;

struct Outcome {
  std::vector<std::string> requests;  // method, path, query, body of each complete request
  int error = 0;
  bool operator==(const Outcome&) const = default;
};

void check(bool condition) {
  if (!condition) std::abort();
}

// Reads `input` as a client would send it, `step` bytes at a time (0: all at once).
Outcome read_all(std::string_view input, size_t step, const HttpLimits& limits) {
  Outcome outcome;
  HttpRequestParser parser(limits);
  size_t start = 0, seen = step == 0 ? input.size() : std::min(step, input.size());
  for (int guard = 0; guard < 100000; ++guard) {
    const std::string_view received = input.substr(start, seen - start);
    const auto status = parser.parse(received);
    if (status == HttpRequestParser::Status::kError) {
      outcome.error = parser.error().status;
      check(outcome.error >= 400 && outcome.error < 600);
      return outcome;
    }
    if (status == HttpRequestParser::Status::kComplete) {
      const auto& request = parser.request();
      check(parser.consumed() > 0 && parser.consumed() <= received.size());
      check(request.body.size() <= limits.max_body_bytes);
      outcome.requests.push_back(request.method + ' ' + request.path + '?' + request.query + ' ' +
                                 std::string(request.body));
      start += parser.consumed();
      parser.reset();
      continue;
    }
    if (seen == input.size()) return outcome;
    seen = std::min(input.size(), seen + step);
  }
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = 1 + data[0] % 64;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  HttpLimits limits;
  limits.max_header_bytes = 2048;
  limits.max_headers = 16;
  limits.max_body_bytes = 4096;
  const Outcome whole = read_all(input, 0, limits);
  const Outcome pieces = read_all(input, step, limits);
  // A request cut short reads as incomplete, never as a different request or error.
  check(whole == pieces);
  return 0;
}
