// libFuzzer target for the HTTP/1.x request parser (`make fuzz`). Invariants, beyond not crashing:
// reading the input whole or split at random record boundaries (as TLS records would split it;
// the first two bytes of the fuzz input seed the splits) gives the same requests, field by field,
// and the same error; a complete request never claims more bytes than it was given nor a body over
// the limit; pipelined requests are read until the input runs out.
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

// Record sizes drawn from a seed: mostly short (a byte at a time up to a few), sometimes long,
// so that boundaries fall inside request lines, CRLFs, chunk lines and bodies alike.
class Splits {
 public:
  explicit Splits(uint32_t seed) : state_(seed * 2654435761u + 1) {}
  size_t next() {  // 0: the whole input at once
    if (whole_) return 0;
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return (state_ & 3) == 0 ? 1 + (state_ >> 8) % 1024 : 1 + (state_ >> 8) % 8;
  }
  static Splits whole() {
    Splits splits(0);
    splits.whole_ = true;
    return splits;
  }

 private:
  uint32_t state_;
  bool whole_ = false;
};

// Reads `input` as a client would send it, in records of the sizes `splits` gives.
Outcome read_all(std::string_view input, Splits splits, const HttpLimits& limits) {
  Outcome outcome;
  HttpRequestParser parser(limits);
  const auto grow = [&](size_t seen) {
    const size_t record = splits.next();
    return record == 0 ? input.size() : std::min(input.size(), seen + record);
  };
  size_t start = 0, seen = grow(0);
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
      outcome.requests.push_back(
          request.method + ' ' + request.path + '?' + request.query + ' ' + request.content_type +
          (request.keep_alive ? " keep " : " close ") + std::string(request.body));
      start += parser.consumed();
      parser.reset();
      continue;
    }
    if (seen == input.size()) return outcome;
    seen = grow(seen);
  }
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint32_t seed = static_cast<uint32_t>(data[0]) << 8 | data[1];
  const std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
  HttpLimits limits;
  limits.max_header_bytes = 2048;
  limits.max_headers = 16;
  limits.max_body_bytes = 4096;
  const Outcome whole = read_all(input, Splits::whole(), limits);
  const Outcome pieces = read_all(input, Splits(seed), limits);
  // A request cut short reads as incomplete, never as a different request or error.
  check(whole == pieces);
  return 0;
}
