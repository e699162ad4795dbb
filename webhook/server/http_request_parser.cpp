#include "server/http_request_parser.h"

#include <algorithm>
#include <cctype>

#include "util/ascii.h"

namespace coderun::server {
namespace {

using util::iequals;

constexpr size_t kMaxChunkLine = 1024;
constexpr size_t kKeptDecodedCapacity = 64 * 1024;
// Chunk framing costs bytes: past this many raw bytes per byte of limit, the client is refused.
constexpr size_t kChunkOverheadFactor = 2;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string_view without_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char);
}

// Field values and chunk extensions: no control bytes but HTAB (so no NUL, no bare CR, which
// some proxies read as a line end), obs-text allowed.
bool is_field_text(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return (byte < 0x20 && c != '\t') || byte == 0x7f;
  });
}

// A request target is visible ASCII only (RFC 9112 3.2).
bool is_target_text(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// Decimal digits only, no sign, no spaces; false past 18 digits (cannot overflow).
bool parse_decimal(std::string_view s, size_t& out) {
  if (s.empty() || s.size() > 18) return false;
  out = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<size_t>(c - '0');
  }
  return true;
}

bool parse_hex(std::string_view s, size_t& out) {
  if (s.empty() || s.size() > 15) return false;
  out = 0;
  for (const char c : s) {
    const int digit = std::isdigit(static_cast<unsigned char>(c))
                          ? c - '0'
                          : (std::isxdigit(static_cast<unsigned char>(c))
                                 ? std::tolower(static_cast<unsigned char>(c)) - 'a' + 10
                                 : -1);
    if (digit < 0) return false;
    out = out * 16 + static_cast<size_t>(digit);
  }
  return true;
}

}  // namespace

void HttpRequestParser::reset() {
  const HttpLimits limits = limits_;
  std::string decoded = std::move(decoded_);
  decoded.clear();
  *this = HttpRequestParser(limits);
  // A usual chunked body's memory is kept for the next one; a large one's is given back, so an
  // idle connection does not hold megabytes.
  if (decoded.capacity() <= kKeptDecodedCapacity) decoded_ = std::move(decoded);
}

HttpRequestParser::Status HttpRequestParser::fail(int status, std::string message) {
  error_ = HttpError{status, std::move(message)};
  return status_ = Status::kError;
}

HttpRequestParser::Status HttpRequestParser::complete(size_t end) {
  consumed_ = end;
  return status_ = Status::kComplete;
}

HttpRequestParser::Status HttpRequestParser::parse(std::string_view input) {
  if (status_ != Status::kIncomplete) {
    if (status_ == Status::kComplete && !chunked_) {
      request_.body = input.substr(head_end_, content_length_);  // the buffer may have moved
    }
    return status_;
  }
  if (head_end_ == 0) {
    if (const Status status = find_head(input); status == Status::kError || head_end_ == 0) {
      return status;
    }
  }
  if (chunked_) return parse_chunks(input);
  if (input.size() - head_end_ < content_length_) return Status::kIncomplete;
  request_.body = input.substr(head_end_, content_length_);
  return complete(head_end_ + content_length_);
}

HttpRequestParser::Status HttpRequestParser::find_head(std::string_view input) {
  for (size_t i = scan_; i < input.size(); ++i) {
    if (input[i] != '\n') continue;
    const size_t line_begin = line_start_;
    line_start_ = i + 1;
    if (!without_cr(input.substr(line_begin, i - line_begin)).empty()) continue;
    if (line_begin == lead_) {  // an empty line before the request line: skipped
      lead_ = i + 1;
      continue;
    }
    scan_ = i + 1;
    head_end_ = i + 1;
    if (head_end_ > limits_.max_header_bytes) {
      return fail(431, "request line and headers are larger than the limit");
    }
    return parse_head(input.substr(lead_, head_end_ - lead_));
  }
  scan_ = input.size();
  if (input.size() > limits_.max_header_bytes) {
    return fail(431, "request line and headers are larger than the limit");
  }
  return Status::kIncomplete;
}

HttpRequestParser::Status HttpRequestParser::parse_head(std::string_view head) {
  size_t end = head.find('\n');
  const std::string_view request_line = without_cr(head.substr(0, end));
  head.remove_prefix(end + 1);

  const size_t first_space = request_line.find(' ');
  const size_t second_space = first_space == std::string_view::npos
                                  ? std::string_view::npos
                                  : request_line.find(' ', first_space + 1);
  if (second_space == std::string_view::npos ||
      request_line.find(' ', second_space + 1) != std::string_view::npos) {
    return fail(400, "malformed request line");
  }
  const std::string_view method = request_line.substr(0, first_space);
  std::string_view target = request_line.substr(first_space + 1, second_space - first_space - 1);
  const std::string_view version = request_line.substr(second_space + 1);
  if (!is_token(method)) return fail(400, "malformed request method");
  if (!is_target_text(target)) return fail(400, "malformed request target");
  const bool http11 = version == "HTTP/1.1";
  if (http11) {
    request_.keep_alive = true;
  } else if (version == "HTTP/1.0") {
    request_.keep_alive = false;
  } else if (version.size() == 8 && version.substr(0, 5) == "HTTP/" &&
             std::isdigit(static_cast<unsigned char>(version[5])) && version[6] == '.' &&
             std::isdigit(static_cast<unsigned char>(version[7]))) {
    return fail(505, "only HTTP/1.0 and HTTP/1.1 are served");
  } else {
    return fail(400, "malformed HTTP version");
  }
  if (const size_t scheme = target.find("://");
      target.empty() || (target.front() != '/' && scheme == std::string_view::npos)) {
    if (target != "*") return fail(400, "malformed request target");
  } else if (target.front() != '/') {  // absolute form: keep the path
    const size_t path = target.find('/', scheme + 3);
    target = path == std::string_view::npos ? std::string_view("/") : target.substr(path);
  }
  const size_t question = target.find('?');
  request_.method = method;
  request_.path = target.substr(0, question);
  request_.query = question == std::string_view::npos ? "" : target.substr(question + 1);

  while (!head.empty()) {
    end = head.find('\n');
    const std::string_view line = without_cr(head.substr(0, end));
    head.remove_prefix(end == std::string_view::npos ? head.size() : end + 1);
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') {
      return fail(400, "folded header lines are not accepted");
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
      return fail(400, "malformed header line");
    }
    if (++headers_ > limits_.max_headers) return fail(431, "too many header fields");
    if (!is_field_text(line.substr(colon + 1))) {
      return fail(400, "control character in a header value");
    }
    if (const Status status = parse_header(line.substr(0, colon), trim(line.substr(colon + 1)));
        status == Status::kError) {
      return status;
    }
  }
  if (chunked_ && has_length_) {
    return fail(400, "both Content-Length and Transfer-Encoding are present");
  }
  // An HTTP/1.0 recipient may not know chunked framing (RFC 9112 6.1): a proxy in front could
  // frame the body differently, so the request is refused rather than guessed.
  if (chunked_ && !http11) return fail(400, "Transfer-Encoding is not allowed in HTTP/1.0");
  if (hosts_ > 1) return fail(400, "more than one Host header");
  if (hosts_ == 0 && http11) return fail(400, "HTTP/1.1 requires a Host header");
  if (has_length_ && content_length_ > limits_.max_body_bytes) {
    return fail(413, "request body is larger than the limit");
  }
  chunk_pos_ = head_end_;
  return Status::kIncomplete;
}

HttpRequestParser::Status HttpRequestParser::parse_header(std::string_view name,
                                                          std::string_view value) {
  if (iequals(name, "content-length")) {
    size_t length = 0;
    if (!parse_decimal(value, length)) return fail(400, "malformed Content-Length");
    if (has_length_ && length != content_length_) return fail(400, "conflicting Content-Length");
    has_length_ = true;
    content_length_ = length;
  } else if (iequals(name, "transfer-encoding")) {
    if (!iequals(value, "chunked") || chunked_) {
      return fail(501, "only the chunked transfer coding is supported");
    }
    chunked_ = true;
  } else if (iequals(name, "connection")) {
    while (!value.empty()) {
      const size_t comma = value.find(',');
      const std::string_view option = trim(value.substr(0, comma));
      if (iequals(option, "close")) request_.keep_alive = false;
      if (iequals(option, "keep-alive")) request_.keep_alive = true;
      value.remove_prefix(comma == std::string_view::npos ? value.size() : comma + 1);
    }
  } else if (iequals(name, "expect")) {
    if (!iequals(value, "100-continue")) return fail(417, "only Expect: 100-continue is supported");
    expect_continue_ = true;
  } else if (iequals(name, "content-type")) {
    request_.content_type = value;
  } else if (iequals(name, "host")) {
    ++hosts_;
  }
  return Status::kIncomplete;
}

HttpRequestParser::Status HttpRequestParser::parse_chunks(std::string_view input) {
  size_t pos = chunk_pos_;
  while (true) {
    if (pos - head_end_ > kChunkOverheadFactor * limits_.max_body_bytes + kMaxChunkLine) {
      return fail(413, "request body is larger than the limit");
    }
    switch (chunk_state_) {
      case ChunkState::kSize: {
        const size_t newline = input.find('\n', pos);
        if (newline == std::string_view::npos) {
          chunk_pos_ = pos;
          return input.size() - pos > kMaxChunkLine ? fail(400, "malformed chunk size")
                                                    : Status::kIncomplete;
        }
        // The same limit as while the line was incomplete, so that the verdict does not depend
        // on where the TLS records split the input.
        if (newline - pos > kMaxChunkLine) return fail(400, "malformed chunk size");
        std::string_view line = without_cr(input.substr(pos, newline - pos));
        if (!is_field_text(line)) return fail(400, "malformed chunk size");
        line = trim(line.substr(0, line.find(';')));  // chunk extensions are ignored
        size_t size = 0;
        if (!parse_hex(line, size)) return fail(400, "malformed chunk size");
        pos = newline + 1;
        if (size == 0) {
          chunk_state_ = ChunkState::kTrailer;
          trailer_start_ = pos;
        } else if (decoded_.size() + size > limits_.max_body_bytes) {
          return fail(413, "request body is larger than the limit");
        } else {
          chunk_left_ = size;
          chunk_state_ = ChunkState::kData;
        }
        break;
      }
      case ChunkState::kData: {
        const size_t available = std::min(chunk_left_, input.size() - pos);
        // Doubling, but never past the body limit (std::string alone could reach twice it).
        if (const size_t needed = decoded_.size() + available; needed > decoded_.capacity()) {
          decoded_.reserve(std::clamp(2 * decoded_.capacity(), needed, limits_.max_body_bytes));
        }
        decoded_.append(input.substr(pos, available));
        pos += available;
        chunk_left_ -= available;
        if (chunk_left_ > 0) {
          chunk_pos_ = pos;
          return Status::kIncomplete;
        }
        chunk_state_ = ChunkState::kDataEnd;
        break;
      }
      case ChunkState::kDataEnd: {
        const std::string_view rest = input.substr(pos);
        if (rest.empty() || (rest == "\r")) {
          chunk_pos_ = pos;
          return Status::kIncomplete;
        }
        if (rest.front() == '\n') {
          pos += 1;
        } else if (rest.substr(0, 2) == "\r\n") {
          pos += 2;
        } else {
          return fail(400, "chunk data does not end with CRLF");
        }
        chunk_state_ = ChunkState::kSize;
        break;
      }
      case ChunkState::kTrailer: {
        // Trailers are bounded as the head is: their bytes (counted whether or not the line is
        // complete) and their number. They are checked and then ignored.
        const size_t newline = input.find('\n', pos);
        const size_t end = newline == std::string_view::npos ? input.size() : newline + 1;
        if (end - trailer_start_ > limits_.max_header_bytes) {
          return fail(431, "trailer fields are larger than the limit");
        }
        if (newline == std::string_view::npos) {
          chunk_pos_ = pos;
          return Status::kIncomplete;
        }
        const std::string_view line = without_cr(input.substr(pos, newline - pos));
        pos = newline + 1;
        if (line.empty()) {
          request_.body = decoded_;
          return complete(pos);
        }
        const size_t colon = line.find(':');
        if (colon == std::string_view::npos || !is_token(line.substr(0, colon)) ||
            !is_field_text(line.substr(colon + 1))) {
          return fail(400, "malformed trailer field");
        }
        if (++trailers_ > limits_.max_headers) return fail(431, "too many trailer fields");
        break;
      }
    }
  }
}

}  // namespace coderun::server
