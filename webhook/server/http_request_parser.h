#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include "server/http_message.h"

namespace coderun::server {

// Reads one HTTP/1.x request from the bytes received so far, resuming where the previous call
// stopped, so a request arriving in many pieces is scanned once. Strict where laxness is a
// smuggling risk (Content-Length with Transfer-Encoding, conflicting lengths, folded headers,
// Transfer-Encoding on HTTP/1.0, a missing or repeated Host, control bytes or a bare CR in the
// target, a value or a chunk line), lenient where RFC 9112 asks (bare LF line ends, empty lines
// before the request line). Sizes are checked as soon as they are known: a declared body over the
// limit is refused before a byte of it is read. Every verdict is the same however the input is
// split: limits hold for complete lines as for incomplete ones.
class HttpRequestParser {
 public:
  enum class Status { kIncomplete, kComplete, kError };

  explicit HttpRequestParser(HttpLimits limits) : limits_(limits) {}

  // `input` holds the bytes received since the request started; it may only have grown since
  // the previous call (it may have moved).
  Status parse(std::string_view input);

  const HttpRequest& request() const { return request_; }  // after kComplete
  const HttpError& error() const { return error_; }        // after kError
  size_t consumed() const { return consumed_; }  // bytes of input the complete request used
  // The head is read, announced `Expect: 100-continue`, and the body is still to come.
  bool awaits_body_after_continue() const {
    return expect_continue_ && head_end_ != 0 && status_ == Status::kIncomplete;
  }
  // Bytes the whole request takes, once its head says (Content-Length); 0 while unknown. Lets
  // the reader allocate once for a large body instead of growing by doubling.
  size_t expected_size() const {
    return head_end_ != 0 && !chunked_ && status_ == Status::kIncomplete
               ? head_end_ + content_length_
               : 0;
  }
  // Memory the parser holds itself (a chunked body is joined into its own buffer).
  size_t buffered_capacity() const { return decoded_.capacity(); }
  void reset();  // for the next request on the connection; frees a large joined body

 private:
  enum class ChunkState { kSize, kData, kDataEnd, kTrailer };

  Status find_head(std::string_view input);
  Status parse_head(std::string_view head);
  Status parse_header(std::string_view name, std::string_view value);
  Status parse_chunks(std::string_view input);
  Status complete(size_t end);
  Status fail(int status, std::string message);

  HttpLimits limits_;
  HttpRequest request_;
  HttpError error_;
  Status status_ = Status::kIncomplete;
  size_t lead_ = 0;        // empty lines before the request line
  size_t scan_ = 0;        // where the search for the end of the head resumes
  size_t line_start_ = 0;  // start of the line being scanned
  size_t head_end_ = 0;    // where the body starts; 0 until the head is read
  size_t headers_ = 0;
  size_t hosts_ = 0;
  bool has_length_ = false;
  size_t content_length_ = 0;
  bool chunked_ = false;
  bool expect_continue_ = false;
  ChunkState chunk_state_ = ChunkState::kSize;
  size_t chunk_pos_ = 0;
  size_t chunk_left_ = 0;
  size_t trailer_start_ = 0;
  size_t trailers_ = 0;
  std::string decoded_;  // a chunked body, joined
  size_t consumed_ = 0;
};

}  // namespace coderun::server
