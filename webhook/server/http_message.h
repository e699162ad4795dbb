#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace coderun::server {

// An HTTP/1.x request as the server needs it: only the headers it acts on are kept, so reading a
// request allocates nothing per header. `body` views the connection's buffer (or the decoded
// chunked body) and is valid until the next request is read on that connection.
struct HttpRequest {
  std::string method;
  std::string path;   // the target without its query
  std::string query;  // after '?', undecoded
  std::string content_type;
  std::string_view body;
  bool keep_alive = true;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string allow;    // the Allow header of a 405
  int retry_after = 0;  // seconds; the Retry-After header of a 503 when above 0
};

// A request that cannot be served as sent: the status says why (400, 413, 417, 431, 501, 505; 503
// when the server cannot take it now).
// The connection is closed after the answer.
struct HttpError {
  int status = 400;
  std::string message;
};

struct HttpLimits {
  size_t max_header_bytes = 64 * 1024;  // request line and headers; 431 past it
  size_t max_headers = 100;             // 431 past it
  size_t max_body_bytes = 3 << 20;      // 413 past it, before the body is read
};

std::string_view reason_phrase(int status);

// Appends the status line, headers and body; one write of the result answers the request.
void append_response(std::string& out, const HttpResponse& response, bool keep_alive);

}  // namespace coderun::server
