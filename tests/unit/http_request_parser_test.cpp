#include "server/http_request_parser.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

using coderun::server::HttpLimits;
using coderun::server::HttpRequestParser;
using Status = HttpRequestParser::Status;

namespace {

// Feeds `text` one byte at a time, as a client dribbling it would; every prefix but the whole
// must be incomplete.
Status parse_dribbled(HttpRequestParser& parser, const std::string& text) {
  for (size_t n = 1; n < text.size(); ++n) {
    const Status status = parser.parse(std::string_view(text).substr(0, n));
    if (status != Status::kIncomplete) return status;
  }
  return parser.parse(text);
}

Status parse_whole(HttpRequestParser& parser, const std::string& text) {
  return parser.parse(text);
}

HttpLimits small_limits() {
  HttpLimits limits;
  limits.max_header_bytes = 256;
  limits.max_headers = 4;
  limits.max_body_bytes = 16;
  return limits;
}

int error_of(const std::string& text, HttpLimits limits = HttpLimits{}) {
  HttpRequestParser parser(limits);
  const Status status = parse_whole(parser, text);
  return status == Status::kError ? parser.error().status : 0;
}

}  // namespace

TEST_CASE("a request with a body, whole or dribbled, reads the same") {
  const std::string text =
      "POST /mutate?timeout=10s HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\n"
      "Content-Length: 7\r\n\r\n{\"a\":1}";
  for (const auto parse : {parse_whole, parse_dribbled}) {
    HttpRequestParser parser{HttpLimits{}};
    REQUIRE(parse(parser, text) == Status::kComplete);
    const auto& request = parser.request();
    CHECK(request.method == "POST");
    CHECK(request.path == "/mutate");
    CHECK(request.query == "timeout=10s");
    CHECK(request.content_type == "application/json");
    CHECK(request.body == "{\"a\":1}");
    CHECK(request.keep_alive);
    CHECK(parser.consumed() == text.size());
  }
}

TEST_CASE("pipelined requests are read one after the other") {
  const std::string first = "POST /a HTTP/1.1\r\nHost: h\r\ncontent-length: 2\r\n\r\nhi";
  const std::string second = "GET /readyz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  std::string buffer = first + second;
  HttpRequestParser parser{HttpLimits{}};
  REQUIRE(parser.parse(buffer) == Status::kComplete);
  CHECK(parser.request().body == "hi");
  REQUIRE(parser.consumed() == first.size());
  buffer.erase(0, parser.consumed());
  parser.reset();
  REQUIRE(parser.parse(buffer) == Status::kComplete);
  CHECK(parser.request().method == "GET");
  CHECK(parser.request().path == "/readyz");
  CHECK(parser.request().body.empty());
  CHECK_FALSE(parser.request().keep_alive);
}

TEST_CASE("the body view follows the buffer when it moves") {
  std::string text = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  HttpRequestParser parser{HttpLimits{}};
  REQUIRE(parser.parse(text) == Status::kComplete);
  const std::string moved = text;
  text.assign(text.size(), 'x');
  REQUIRE(parser.parse(moved) == Status::kComplete);
  CHECK(parser.request().body == "abc");
}

TEST_CASE("keep-alive follows the version and the Connection header") {
  const auto keep_alive = [](const std::string& text) {
    HttpRequestParser parser{HttpLimits{}};
    REQUIRE(parser.parse(text) == Status::kComplete);
    return parser.request().keep_alive;
  };
  CHECK(keep_alive("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  CHECK_FALSE(keep_alive("GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n"));
  CHECK_FALSE(keep_alive("GET / HTTP/1.0\r\n\r\n"));
  CHECK(keep_alive("GET / HTTP/1.0\r\nConnection: upgrade, keep-alive\r\n\r\n"));
}

TEST_CASE("lenient where RFC 9112 asks: bare LF, empty lines first, absolute form") {
  HttpRequestParser parser{HttpLimits{}};
  const std::string text =
      "\r\n\nPOST https://svc.ns.svc:443/validate?x HTTP/1.1\nHost: h\nContent-Length: 2\n\nok";
  REQUIRE(parse_dribbled(parser, text) == Status::kComplete);
  CHECK(parser.request().path == "/validate");
  CHECK(parser.request().query == "x");
  CHECK(parser.request().body == "ok");
}

TEST_CASE("chunked bodies are joined, with extensions and trailers ignored") {
  const std::string text =
      "POST /mutate HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nWiki\r\n5;name=value\r\npedia\r\nA\r\n in chunks\r\n0\r\nX-Trailer: t\r\n\r\n"
      "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
  for (const auto parse : {parse_whole, parse_dribbled}) {
    HttpRequestParser parser{HttpLimits{}};
    REQUIRE(parse(parser, text) == Status::kComplete);
    CHECK(parser.request().body == "Wikipedia in chunks");
    CHECK(text.substr(parser.consumed()) == "GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
  }
}

TEST_CASE("framing that could smuggle a request is refused") {
  CHECK(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: "
                 "chunked\r\n\r\n") == 400);
  CHECK(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n") ==
        400);
  CHECK(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n") == 400);
  CHECK(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1e3\r\n\r\n") == 400);
  CHECK(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n") ==
        400);
  CHECK(error_of("POST / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n") == 400);
  CHECK(error_of("POST / HTTP/1.1\r\nHost: h\r\nBad Name: a\r\n\r\n") == 400);
  CHECK(error_of("POST / HTTP/1.1\r\nHost: h\r\nno colon\r\n\r\n") == 400);
  CHECK(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") == 501);
  CHECK(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") == 400);
  CHECK(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY") ==
        400);
  // Duplicated identical lengths are one length.
  CHECK(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx") ==
        0);
}

TEST_CASE("request lines that are not HTTP/1.x get 400 or 505") {
  CHECK(error_of("GARBAGE\r\n\r\n") == 400);
  CHECK(error_of("GET /\r\n\r\n") == 400);
  CHECK(error_of("GET / HTTP/1.1 extra\r\n\r\n") == 400);
  CHECK(error_of("GET nopath HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
  CHECK(error_of("G{T / HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
  CHECK(error_of("GET / HTTP/2.0\r\n\r\n") == 505);
  CHECK(error_of("GET / HTTP/1.1x\r\n\r\n") == 400);
  CHECK(error_of(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 15)) ==
        400);  // a TLS ClientHello where a request line should be
}

TEST_CASE("sizes are refused as soon as they are known") {
  // A declared body over the limit: 413 with the head alone, before any of the body.
  CHECK(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n", small_limits()) ==
        413);
  CHECK(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 16\r\n\r\n", small_limits()) == 0);
  CHECK(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n",
                 small_limits()) == 0);
  CHECK(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n",
                 small_limits()) == 413);
  CHECK(
      error_of(
          "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n9\r\n",
          small_limits()) == 413);
  // Chunk framing cannot make the raw body grow without bound while the joined body stays small.
  std::string framed = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) framed += "1;" + std::string(1000, 'e') + "\r\na\r\n";
  CHECK(error_of(framed, small_limits()) == 413);
  // A head that never ends: 431 once it passes the limit.
  CHECK(error_of("GET / HTTP/1.1\r\nHost: h\r\nX-Padding: " + std::string(300, 'a'),
                 small_limits()) == 431);
  CHECK(error_of("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n",
                 small_limits()) == 431);
}

TEST_CASE("Expect: 100-continue is announced once the head is read") {
  HttpRequestParser parser{HttpLimits{}};
  const std::string head =
      "POST /mutate HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\n";
  CHECK(parser.parse(head.substr(0, 20)) == Status::kIncomplete);
  CHECK_FALSE(parser.awaits_body_after_continue());
  CHECK(parser.parse(head) == Status::kIncomplete);
  CHECK(parser.awaits_body_after_continue());
  CHECK(parser.parse(head + "body") == Status::kComplete);
  CHECK_FALSE(parser.awaits_body_after_continue());
  CHECK(error_of("POST / HTTP/1.1\r\nHost: h\r\nExpect: something-else\r\n\r\n") == 417);
}

TEST_CASE("the whole size is known once the head declares a length") {
  HttpRequestParser parser{HttpLimits{}};
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n";
  CHECK(parser.parse(head.substr(0, 10)) == Status::kIncomplete);
  CHECK(parser.expected_size() == 0);
  CHECK(parser.parse(head) == Status::kIncomplete);
  CHECK(parser.expected_size() == head.size() + 100);
  CHECK(parser.parse(head + std::string(100, 'x')) == Status::kComplete);
  CHECK(parser.expected_size() == 0);
  HttpRequestParser chunked{HttpLimits{}};
  CHECK(chunked.parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n") ==
        Status::kIncomplete);
  CHECK(chunked.expected_size() == 0);
}

namespace {

// The verdict on `text` read whole, then checked to be the same dribbled byte by byte and split
// in two at every position (two TLS records): 0 when complete, else the error status.
int verdict(const std::string& text, HttpLimits limits = HttpLimits{}) {
  const auto status_of = [](HttpRequestParser& parser, Status status) {
    return status == Status::kError ? parser.error().status
                                    : (status == Status::kComplete ? 0 : -1);
  };
  HttpRequestParser whole(limits);
  const int expected = status_of(whole, parse_whole(whole, text));
  HttpRequestParser dribbled(limits);
  CHECK(status_of(dribbled, parse_dribbled(dribbled, text)) == expected);
  for (size_t split = 1; split < text.size(); ++split) {
    HttpRequestParser parser(limits);
    Status status = parser.parse(std::string_view(text).substr(0, split));
    if (status == Status::kIncomplete) status = parser.parse(text);
    INFO("split at " << split);
    CHECK(status_of(parser, status) == expected);
  }
  return expected;
}

const std::string kChunkedHead = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";

}  // namespace

TEST_CASE("chunk lines over the limit are refused however the bytes arrive") {
  const std::string long_extension = "1;" + std::string(1100, 'e') + "\r\na\r\n0\r\n\r\n";
  CHECK(verdict(kChunkedHead + long_extension) == 400);
  CHECK(verdict(kChunkedHead + "1;" + std::string(1000, 'e') + "\r\na\r\n0\r\n\r\n") == 0);
  CHECK(verdict(kChunkedHead + "1;x=\x01\r\na\r\n0\r\n\r\n") == 400);
}

TEST_CASE("control bytes and bare CR are refused in the target and in header values") {
  using namespace std::string_literals;
  CHECK(verdict("GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n"s) == 400);
  CHECK(verdict("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
  CHECK(verdict("GET /a\rb HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
  CHECK(verdict("GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
  CHECK(verdict("GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
  CHECK(verdict("GET / HTTP/1.1\r\r\nHost: h\r\n\r\n") == 400);
  CHECK(verdict("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n"s) == 400);
  CHECK(verdict("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n") == 400);
  CHECK(verdict("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x1b[2J\r\n\r\n") == 400);
  CHECK(verdict("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7f\r\n\r\n") == 400);
  CHECK(verdict("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\r\n\r\n") == 400);
  // HTAB and obs-text stay allowed in values.
  CHECK(verdict("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\tb \xc3\xa9\r\n\r\n") == 0);
}

TEST_CASE("Transfer-Encoding on HTTP/1.0 is refused") {
  CHECK(verdict("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == 400);
  CHECK(verdict("POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nok") == 0);
}

TEST_CASE("HTTP/1.1 needs exactly one Host, HTTP/1.0 at most one") {
  CHECK(verdict("GET / HTTP/1.1\r\n\r\n") == 400);
  CHECK(verdict("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n") == 400);
  CHECK(verdict("GET / HTTP/1.1\r\nhost: a\r\nHOST: b\r\n\r\n") == 400);
  CHECK(verdict("GET / HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
  CHECK(verdict("GET / HTTP/1.0\r\n\r\n") == 0);
  CHECK(verdict("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n") == 400);
}

TEST_CASE("trailers are bounded in size and number, and must be well formed") {
  CHECK(verdict(kChunkedHead + "1\r\na\r\n0\r\nX-T: 1\r\nY-T: 2\r\n\r\n") == 0);
  // Size: the same limit as the head, whether the lines are complete or not.
  HttpLimits limits = small_limits();
  std::string big = kChunkedHead + "1\r\na\r\n0\r\n";
  for (int i = 0; i < 6; ++i)
    big += "X-T" + std::to_string(i) + ": " + std::string(50, 'v') + "\r\n";
  CHECK(verdict(big + "\r\n", limits) == 431);
  CHECK(verdict(big, limits) == 431);  // the input stops there: refused, not kept waiting
  // Number: as many as header fields may be.
  std::string many = kChunkedHead + "1\r\na\r\n0\r\n";
  for (int i = 0; i < 5; ++i) many += "T" + std::to_string(i) + ": v\r\n";
  CHECK(verdict(many + "\r\n", limits) == 431);
  // Form: a field line, with no control bytes.
  CHECK(verdict(kChunkedHead + "1\r\na\r\n0\r\nno colon\r\n\r\n") == 400);
  CHECK(verdict(kChunkedHead + std::string("1\r\na\r\n0\r\nX-T: a\0b\r\n\r\n", 21)) == 400);
}

TEST_CASE("a large joined chunked body is freed by reset, a small one keeps its memory") {
  HttpRequestParser parser{HttpLimits{}};
  const std::string data(200 * 1024, 'x');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size());
  const std::string text = kChunkedHead + size_line + data + "\r\n0\r\n\r\n";
  REQUIRE(parser.parse(text) == Status::kComplete);
  CHECK(parser.request().body.size() == data.size());
  CHECK(parser.buffered_capacity() >= data.size());
  CHECK(parser.buffered_capacity() <= HttpLimits{}.max_body_bytes);
  parser.reset();
  CHECK(parser.buffered_capacity() < 64 * 1024);
  REQUIRE(parser.parse(kChunkedHead + "3\r\nabc\r\n0\r\n\r\n") == Status::kComplete);
  const size_t small = parser.buffered_capacity();
  parser.reset();
  CHECK(parser.buffered_capacity() == small);
}
