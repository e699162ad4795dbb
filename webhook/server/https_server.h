#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "server/certificate_store.h"
#include "server/http_message.h"

namespace coderun::server {

// Sized for the Deployment's 128 MiB memory limit (README, "Memory under hostile load"): 12 MiB
// at rest, this budget, two 3 MiB decisions at once (about 9 MiB each beyond their bodies), and
// up to 40 KiB per connection while its TLS handshake is in progress (18 KiB idle afterwards).
inline constexpr size_t kDefaultMaxConnections = 512;
inline constexpr size_t kDefaultMaxBufferedBytes = 48 << 20;

struct HttpsOptions {
  std::string address = "0.0.0.0";
  int port = 8443;     // 0: any free port (bind() returns it)
  size_t threads = 0;  // event-loop threads; 0: one per CPU, at least 2
  size_t max_connections = kDefaultMaxConnections;  // past it, new connections are closed at once
  // Request bytes buffered across all connections (heads, bodies, joined chunked bodies). A
  // request that would take more gets 503 with Retry-After at once and its connection is closed:
  // the API server retries or applies the failurePolicy, and the process stays within its memory.
  size_t max_buffered_bytes = kDefaultMaxBufferedBytes;
  // Pipelined requests answered on one connection before the others get their turn.
  size_t max_requests_per_turn = 8;
  // A request (with the TLS handshake for the first one of a connection: from accept to the end
  // of the request) must arrive within it, however it is dribbled: a slow client cannot hold a
  // connection by sending a byte now and then, nor by handshaking and then sending nothing.
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds write_timeout{10000};       // answering, with the client not reading
  std::chrono::milliseconds keep_alive_timeout{30000};  // idle between requests
  HttpLimits limits;
  // Told of connections opening (+1) and closing (-1), and of those the server drops: "timeout"
  // (a request or an answer that took longer than its timeout), "limit" (max_connections) or
  // "budget" (a request refused with 503 by max_buffered_bytes).
  // Called on the loop threads: must be cheap and thread-safe.
  std::function<void(int delta)> on_connections;
  std::function<void(const char* reason)> on_dropped;
  // A TLS handshake the client or the server broke off with a protocol error or an alert, with
  // OpenSSL's reason ("tlsv1 alert unknown ca": the client does not trust our certificate, as
  // with a wrong caBundle; "http request": plain HTTP sent to the TLS port). Clients that just
  // connect and leave are not reported.
  std::function<void(const std::string& reason)> on_handshake_failed;
};

// HTTP/1.1 over TLS on epoll: a few event-loop threads share every connection (EPOLLONESHOT
// gives one thread a connection at a time), read whole TLS records, and answer each request with
// one write. Handlers run on the loop threads, so they must not block. Knows nothing of what is
// being served.
class HttpsServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // The answer to a request that cannot be served (malformed, too large, or a handler that threw
  // with status 500), given the request as far as it was read (its path may be empty); the
  // connection is closed after it.
  using ErrorResponder = std::function<HttpResponse(const HttpRequest&, const HttpError&)>;

  HttpsServer(HttpsOptions options, CertificateStore& certificates, Handler handler,
              ErrorResponder on_error);
  ~HttpsServer();
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  int bind();  // binds and listens; returns the port; throws std::runtime_error on failure
  // Runs the event loops until stop(), then returns once every request in flight is answered
  // and written (idle keep-alive connections are closed; a request still arriving gets until its
  // read timeout).
  void serve();
  void stop();             // safe from any thread, before or during serve()
  size_t threads() const;  // event-loop threads serve() runs

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace coderun::server
