#include "server/https_server.h"

#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/byte_buffer.h"
#include "server/http_request_parser.h"

namespace coderun::server {
namespace {

constexpr size_t kReadSpace = 32 * 1024;  // two full TLS records per SSL_read batch
constexpr int kSweepEveryMs = 200;        // timeouts are enforced to this precision
// A drain closes a connection that has not sent its first request only once it is this old: the
// client has just connected (or is mid-handshake) and its request is most likely on the way. Go's
// net/http Shutdown waits 5 s for such connections too.
constexpr int64_t kFirstRequestGraceMs = 5000;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
struct SslContextFree {
  void operator()(SSL_CTX* context) const { SSL_CTX_free(context); }
};

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

// "error:0A000418:SSL routines::tlsv1 alert unknown ca" -> "tlsv1 alert unknown ca".
std::string openssl_reason(std::string_view text) {
  const size_t last_colon = text.rfind(':');
  return std::string(last_colon == std::string_view::npos ? text : text.substr(last_colon + 1));
}

// CPUs this process may use: the affinity mask, lowered to the container's CPU limit (cgroup v2
// cpu.max, else v1 cfs quota), which a pod with `limits.cpu: 1` on a 64-core node would miss.
size_t usable_cpus() {
  size_t cpus = std::max(1u, std::thread::hardware_concurrency());
  long quota = -1, period = 0;
  if (std::ifstream v2("/sys/fs/cgroup/cpu.max"); v2) {
    std::string max;
    if (v2 >> max >> period && max != "max") quota = std::atol(max.c_str());
  } else if (std::ifstream q("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
             p("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
             q && p) {
    q >> quota;
    p >> period;
  }
  if (quota > 0 && period > 0) {
    cpus = std::min(cpus, static_cast<size_t>((quota + period - 1) / period));
  }
  return cpus;
}

// Request bytes buffered by every connection together, against --max-buffered-bytes.
class BufferBudget {
 public:
  explicit BufferBudget(size_t limit) : limit_(limit) {}
  bool take(size_t bytes) {
    size_t used = used_.load(std::memory_order_relaxed);
    do {
      if (bytes > limit_ || used > limit_ - bytes) return false;
    } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
    return true;
  }
  void give_back(size_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }

 private:
  const size_t limit_;
  std::atomic<size_t> used_{0};
};

// What one connection holds of the budget: set to what its buffers hold (or are about to), given
// back as they are freed and when the connection ends.
class BudgetShare {
 public:
  explicit BudgetShare(BufferBudget& budget) : budget_(budget) {}
  ~BudgetShare() { budget_.give_back(held_); }
  BudgetShare(const BudgetShare&) = delete;
  BudgetShare& operator=(const BudgetShare&) = delete;

  bool hold(size_t bytes) {  // false, holding what it held, when the budget cannot give more
    if (bytes > held_ && !budget_.take(bytes - held_)) return false;
    if (bytes < held_) budget_.give_back(held_ - bytes);
    held_ = bytes;
    return true;
  }

 private:
  BufferBudget& budget_;
  size_t held_ = 0;
};

// One client connection. Only the loop thread holding its (one-shot) epoll event touches it,
// except for the sweep, which reads the atomics and may shut the socket down.
class Connection {
 public:
  // kYield: more is buffered, but other connections get their turn first.
  enum class Next { kRead, kWrite, kYield, kClose };

  Connection(UniqueFd fd, std::unique_ptr<SSL, SslFree> ssl, const HttpsOptions& options,
             const HttpsServer::Handler& handler, const HttpsServer::ErrorResponder& on_error,
             const std::atomic<bool>& stopping, BufferBudget& budget)
      : fd_(std::move(fd)),
        ssl_(std::move(ssl)),
        options_(options),
        handler_(handler),
        on_error_(on_error),
        stopping_(stopping),
        parser_(options.limits),
        budget_(budget),
        accepted_ms_(now_ms()) {
    // Runs from accept to the end of the first request, the handshake included.
    deadline_ms.store(now_ms() + options_.read_timeout.count());
  }

  int fd() const { return fd_.get(); }

  // Whether a drain may close this connection while it waits for a request: one that has served
  // a request may go at once; a new one gets its grace for the first request.
  bool drain_may_close(int64_t now) const {
    return kept_alive.load() || now - accepted_ms_ >= kFirstRequestGraceMs;
  }

  // Bytes the kernel holds for this socket that no thread has read yet.
  bool bytes_waiting() const {
    int waiting = 0;
    return ::ioctl(fd_.get(), FIONREAD, &waiting) == 0 && waiting > 0;
  }

  // Does all the work the socket allows now; says what to wait for next.
  Next on_ready() {
    if (!handshaken.load(std::memory_order_relaxed)) {
      ERR_clear_error();
      const int result = SSL_do_handshake(ssl_.get());
      if (result != 1) {
        const unsigned long error = ERR_peek_last_error();
        // OpenSSL 3 reports a client leaving mid-handshake (a TCP probe) as an error too.
        if (SSL_get_error(ssl_.get(), result) == SSL_ERROR_SSL &&
            ERR_GET_REASON(error) != SSL_R_UNEXPECTED_EOF_WHILE_READING &&
            options_.on_handshake_failed) {
          char reason[256];
          ERR_error_string_n(error, reason, sizeof reason);
          options_.on_handshake_failed(openssl_reason(reason));
        }
        return wait_or_close(result);
      }
      handshaken.store(true);
    }
    size_t answered = 0;
    while (true) {
      if (!out_.empty()) {
        if (const auto next = flush(); next) return *next;
      }
      // One client pipelining requests must not keep this thread from the other connections.
      if (answered > 0 && answered >= options_.max_requests_per_turn &&
          (!in_.empty() || SSL_has_pending(ssl_.get()) != 0)) {
        return Next::kYield;
      }
      switch (parser_.parse(in_.view())) {
        case HttpRequestParser::Status::kComplete:
          answer();
          ++answered;
          continue;
        case HttpRequestParser::Status::kError:
          refuse(parser_.request(), parser_.error());  // the path, when it got that far
          continue;
        case HttpRequestParser::Status::kIncomplete:
          // The head may have declared a body, or a chunk been joined: held to the budget
          // before any more is read.
          if (!budget_.hold(held(in_.capacity()))) {
            over_budget();
            continue;
          }
          if (parser_.awaits_body_after_continue() && !continue_sent_) {
            continue_sent_ = true;
            out_ += kContinue;
            continue;
          }
          break;
      }
      // Just after an answer, with nothing buffered here or in OpenSSL, waiting costs less than
      // a read(2) that would most likely say EAGAIN: re-arming the level-triggered one-shot event
      // fires at once if the socket already holds the next request.
      if (answered > 0 && in_.empty() && SSL_has_pending(ssl_.get()) == 0) {
        return stopping_.load() ? Next::kClose : Next::kRead;
      }
      if (const auto next = read(); next) return *next;
    }
  }

  // A clean close: close_notify unless the TLS session already failed.
  void finish() {
    if (handshaken.load(std::memory_order_relaxed) && !failed_) {
      ERR_clear_error();
      SSL_shutdown(ssl_.get());
    }
    ERR_clear_error();
  }

  std::atomic<int64_t> deadline_ms{0};
  // Waiting for a request that has not started: a drain may close it.
  std::atomic<bool> idle{true};
  // Who has the connection: a loop thread (kInHand) or nobody (kWaiting, armed in epoll). A drain
  // claims a waiting connection (kClaimedByDrain) before looking at it, so that it never shuts a
  // socket down while a thread is reading a request from it.
  enum Hold : int { kWaiting, kInHand, kClaimedByDrain };
  std::atomic<int> hold{kWaiting};
  std::atomic<bool> timed_out{false};  // counted once, however many sweeps see it
  std::atomic<bool> handshaken{false};
  std::atomic<bool> kept_alive{false};  // a request was answered and the connection kept

 private:
  Next wait_or_close(int result) {
    switch (SSL_get_error(ssl_.get(), result)) {
      case SSL_ERROR_WANT_READ:
        return Next::kRead;
      case SSL_ERROR_WANT_WRITE:
        return Next::kWrite;
      case SSL_ERROR_ZERO_RETURN:  // the client's close_notify, or the end of the stream
        return Next::kClose;
      default:  // reset, TLS alert, shut down by the sweep
        failed_ = true;
        return Next::kClose;
    }
  }

  // Budget this connection needs with an input buffer of `capacity`: the buffer, or the whole
  // declared request if larger (a declared body is held to the budget before it is read), and
  // the parser's joined chunked body.
  size_t held(size_t capacity) const {
    return std::max(capacity, parser_.expected_size()) + parser_.buffered_capacity();
  }

  std::optional<Next> read() {
    // A large declared body is read into few allocations, but never more than a few times what
    // has actually arrived: a head alone must not make the server reserve megabytes.
    const size_t expected = parser_.expected_size();
    const size_t wanted =
        expected > in_.size() ? std::min(expected - in_.size(), 4 * in_.size() + kReadSpace) : 0;
    const size_t bytes = std::max(kReadSpace, wanted);
    const size_t at_most =
        expected > in_.size() ? std::max(bytes, expected - in_.size()) : SIZE_MAX;
    if (!budget_.hold(held(in_.capacity_for(bytes, at_most)))) {
      over_budget();
      return std::nullopt;
    }
    const std::span<char> space = in_.space(bytes, at_most);
    ERR_clear_error();
    const int got = SSL_read(ssl_.get(), space.data(),
                             static_cast<int>(std::min<size_t>(space.size(), INT_MAX)));
    if (got <= 0) {
      const Next next = wait_or_close(got);
      if (next == Next::kRead && in_.empty()) {
        if (SSL_has_pending(ssl_.get()) != 0) {
          idle.store(false);  // part of a TLS record is here: the request has started
          return next;
        }
        // Draining: a connection with no request started is closed rather than kept waiting.
        if (stopping_.load() && drain_may_close(now_ms())) return Next::kClose;
        release_buffers();  // idle: nothing held while waiting
      }
      return next;
    }
    in_.commit(static_cast<size_t>(got));
    if (idle.load(std::memory_order_relaxed)) {
      idle.store(false);
      // The first request's time runs from accept; a later one's from its first byte.
      if (kept_alive.load(std::memory_order_relaxed)) {
        deadline_ms.store(now_ms() + options_.read_timeout.count());
      }
    }
    return std::nullopt;
  }

  // Frees the input buffer when it holds nothing, and gives back the budget it held.
  void release_buffers() {
    in_.shrink_if_empty(0);
    budget_.hold(held(in_.capacity()));  // lowering always succeeds
  }

  // The budget cannot hold this request: 503 with Retry-After, and the connection closed once it
  // is written. Its buffers are freed at once, so the budget is back before the answer is out.
  void over_budget() {
    if (options_.on_dropped) options_.on_dropped("budget");
    refuse(parser_.request(),
           HttpError{503, "the server is buffering too many requests (--max-buffered-bytes)"});
    in_ = ByteBuffer();
    parser_.reset();
    budget_.hold(0);
  }

  void answer() {
    const HttpRequest& request = parser_.request();
    deadline_ms.store(now_ms() + options_.write_timeout.count());
    HttpResponse response;
    try {
      response = handler_(request);
    } catch (const std::exception& e) {
      return refuse(request, HttpError{500, e.what()});
    } catch (...) {
      return refuse(request, HttpError{500, "unknown exception"});
    }
    const bool keep_alive = request.keep_alive && !stopping_.load();
    append_response(out_, response, keep_alive);
    close_after_write_ = !keep_alive;
    in_.consume(parser_.consumed());
    parser_.reset();
    continue_sent_ = false;
  }

  void refuse(const HttpRequest& request, const HttpError& error) {
    deadline_ms.store(now_ms() + options_.write_timeout.count());
    HttpResponse response;
    try {
      response = on_error_(request, error);
    } catch (const std::exception&) {
      response = HttpResponse{error.status, "text/plain",
                              std::string(reason_phrase(error.status)) + "\n", ""};
    }
    if (response.status == 503) response.retry_after = 1;
    append_response(out_, response, false);
    close_after_write_ = true;
  }

  // Writes what is pending; nullopt when all of it is written and the connection goes on.
  std::optional<Next> flush() {
    while (sent_ < out_.size()) {
      ERR_clear_error();
      const int wrote = SSL_write(ssl_.get(), out_.data() + sent_,
                                  static_cast<int>(std::min<size_t>(out_.size() - sent_, INT_MAX)));
      if (wrote <= 0) return wait_or_close(wrote);
      sent_ += static_cast<size_t>(wrote);
    }
    out_.clear();
    sent_ = 0;
    if (close_after_write_) return Next::kClose;
    kept_alive.store(true);
    release_buffers();
    if (in_.empty()) {
      idle.store(true);
      deadline_ms.store(now_ms() + options_.keep_alive_timeout.count());
    } else {  // the next request has started (pipelined)
      idle.store(false);
      deadline_ms.store(now_ms() + options_.read_timeout.count());
    }
    return std::nullopt;
  }

  UniqueFd fd_;
  std::unique_ptr<SSL, SslFree> ssl_;
  const HttpsOptions& options_;
  const HttpsServer::Handler& handler_;
  const HttpsServer::ErrorResponder& on_error_;
  const std::atomic<bool>& stopping_;
  HttpRequestParser parser_;
  ByteBuffer in_;
  BudgetShare budget_;
  std::string out_;
  size_t sent_ = 0;
  bool failed_ = false;
  bool continue_sent_ = false;
  bool close_after_write_ = false;
  const int64_t accepted_ms_;
};

}  // namespace

struct HttpsServer::Impl {
  Impl(HttpsOptions options_in, CertificateStore& certificates, Handler handler_in,
       ErrorResponder on_error_in)
      : options(std::move(options_in)),
        // At least two, so that one long request (a 3 MiB review) never stops all serving.
        threads(options.threads > 0 ? options.threads : std::max<size_t>(2, usable_cpus())),
        handler(std::move(handler_in)),
        on_error(std::move(on_error_in)),
        context(SSL_CTX_new(TLS_server_method())),
        epoll(::epoll_create1(EPOLL_CLOEXEC)),
        wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (!context) throw std::runtime_error("cannot create the TLS server context");
    // A write to a socket the client has closed raises SIGPIPE, whose default kills the process.
    std::signal(SIGPIPE, SIG_IGN);
    // Large buffers (request bodies and what is parsed from them) are mapped and unmapped, so the
    // memory of a large request goes back to the system when it is freed: resident memory then
    // follows --max-buffered-bytes. glibc's default raises this threshold after the first large
    // free, and 3 MiB bodies then land in the heap, where fragmentation held 40% more (measured).
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    if (epoll.get() < 0 || wake.get() < 0) throw std::runtime_error(errno_text("epoll"));
    certificates.configure(*context);
    // Partial writes let a large answer go out as the socket drains; read-ahead fills OpenSSL's
    // buffer with whatever the socket holds, so a 30 KB request takes one or two read(2) calls.
    // Released buffers: an idle connection does not keep OpenSSL's 17 KB read and write buffers.
    SSL_CTX_set_mode(context.get(), SSL_MODE_ENABLE_PARTIAL_WRITE |
                                        SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                        SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(context.get(), 1);
    // An end of stream without close_notify (Python's close(), a sweep's shutdown) is a close,
    // not a fatal error: OpenSSL would otherwise drop the session from its cache, and the
    // client's next connection would need a full handshake. Nothing is lost: HTTP's own framing
    // tells a truncated request, which is never served.
    SSL_CTX_set_options(context.get(), SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    epoll_event event{};
    event.events = EPOLLIN;  // level-triggered: once stopping, every loop sees it
    event.data.ptr = &wake;
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, wake.get(), &event) != 0) {
      throw std::runtime_error(errno_text("epoll_ctl"));
    }
  }

  void run_loop() {
    std::array<epoll_event, 64> events{};
    while (!finished.load()) {
      const int ready =
          ::epoll_wait(epoll.get(), events.data(), static_cast<int>(events.size()), kSweepEveryMs);
      for (int i = 0; i < ready; ++i) {
        void* tag = events[static_cast<size_t>(i)].data.ptr;
        if (tag == &listener) {
          accept_connections();
        } else if (tag == &wake) {
          on_wake();
        } else {
          serve_connection(*static_cast<Connection*>(tag));
        }
      }
      const int64_t now = now_ms();
      int64_t due = next_sweep_ms.load();
      if (now >= due && next_sweep_ms.compare_exchange_strong(due, now + kSweepEveryMs)) {
        sweep(now);
      }
    }
  }

  void serve_connection(Connection& connection) {
    connection.hold.store(Connection::kInHand);
    const Connection::Next next = connection.on_ready();
    if (next != Connection::Next::kClose) connection.hold.store(Connection::kWaiting);
    switch (next) {
      case Connection::Next::kRead:
        return arm(connection, EPOLLIN);
      case Connection::Next::kWrite:
        return arm(connection, EPOLLOUT);
      case Connection::Next::kYield:  // writable at once: back in the queue behind the others
        return arm(connection, EPOLLIN | EPOLLOUT);
      case Connection::Next::kClose:
        connection.finish();
        return close(connection);
    }
  }

  // The last thing done with a connection by a thread: once armed, another may take it.
  void arm(Connection& connection, uint32_t events) {
    epoll_event event{};
    event.events = events | EPOLLONESHOT | EPOLLRDHUP;
    event.data.ptr = &connection;
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_MOD, connection.fd(), &event) != 0) {
      connection.finish();
      close(connection);
    }
  }

  void accept_connections() {
    for (int accepted = 0; accepted < 64; ++accepted) {
      UniqueFd fd(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (fd.get() < 0) {
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
        // Out of descriptors or memory: the listener is re-armed by the next sweep rather than
        // spinning on a connection it cannot take.
        if (errno != EAGAIN && errno != EWOULDBLOCK) listener_paused = true;
        break;
      }
      if (connection_count.load() >= options.max_connections) {  // closed by ~UniqueFd
        if (options.on_dropped) options.on_dropped("limit");
        continue;
      }
      const int one = 1;
      ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::unique_ptr<SSL, SslFree> ssl(SSL_new(context.get()));
      if (!ssl || SSL_set_fd(ssl.get(), fd.get()) != 1) continue;
      SSL_set_accept_state(ssl.get());
      const int raw_fd = fd.get();
      auto connection = std::make_unique<Connection>(std::move(fd), std::move(ssl), options,
                                                     handler, on_error, stopping, budget);
      Connection* added = connection.get();
      {
        const std::lock_guard lock(registry_mutex);
        connections.emplace(added, std::move(connection));
        connection_count.fetch_add(1);
      }
      if (options.on_connections) options.on_connections(+1);
      epoll_event event{};
      event.events = EPOLLIN | EPOLLONESHOT | EPOLLRDHUP;
      event.data.ptr = added;
      if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, raw_fd, &event) != 0) close(*added);
    }
    if (!listener_paused.load()) arm_listener(EPOLL_CTL_MOD);
  }

  void arm_listener(int operation) {
    if (stopping.load()) return;
    epoll_event event{};
    event.events = EPOLLIN | EPOLLONESHOT;
    event.data.ptr = &listener;
    ::epoll_ctl(epoll.get(), operation, listener.get(), &event);
  }

  void close(Connection& connection) {
    std::unique_ptr<Connection> owned;
    {
      const std::lock_guard lock(registry_mutex);
      const auto found = connections.find(&connection);
      owned = std::move(found->second);
      connections.erase(found);
      connection_count.fetch_sub(1);
    }
    owned.reset();  // frees the TLS session and closes the socket (leaving the epoll set)
    if (options.on_connections) options.on_connections(-1);
    finish_if_drained();
  }

  // Closes what has waited too long and, when stopping, what waits for a request. shutdown(2)
  // wakes the connection's loop thread, which then sees the end of the stream and closes it;
  // sockets are only closed by the thread that holds them.
  void sweep(int64_t now) {
    if (listener_paused.exchange(false)) arm_listener(EPOLL_CTL_MOD);
    const bool draining = stopping.load();
    const std::lock_guard lock(registry_mutex);
    for (const auto& [raw, connection] : connections) {
      const bool expired = connection->deadline_ms.load() <= now;
      if (expired || (draining && closable_while_draining(*connection, now))) {
        ::shutdown(connection->fd(), SHUT_RDWR);
      }
      // An idle keep-alive connection closing is routine; a request that did not arrive (or an
      // answer that could not be written) in time is worth counting, and so is a connection
      // that never sent one.
      const bool routine = connection->idle.load() && connection->kept_alive.load();
      if (expired && !routine && !connection->timed_out.exchange(true) && options.on_dropped) {
        options.on_dropped("timeout");
      }
    }
  }

  // A connection waiting for a request that has not started, held by no thread, with nothing
  // arrived for it: a request already in the socket (sent just before the signal) is answered.
  static bool closable_while_draining(Connection& connection, int64_t now) {
    if (!connection.idle.load() || !connection.drain_may_close(now)) return false;
    int waiting = Connection::kWaiting;
    if (!connection.hold.compare_exchange_strong(waiting, Connection::kClaimedByDrain)) {
      return false;  // a thread has it: it closes it itself if nothing comes
    }
    if (connection.bytes_waiting()) {
      int claimed = Connection::kClaimedByDrain;
      connection.hold.compare_exchange_strong(claimed, Connection::kWaiting);
      return false;
    }
    return true;
  }

  void on_wake() {
    if (finished.load()) return;
    eventfd_t value = 0;
    ::eventfd_read(wake.get(), &value);
    if (stopping.load()) {
      sweep(now_ms());
      finish_if_drained();
    }
  }

  void finish_if_drained() {
    if (stopping.load() && connection_count.load() == 0 && !finished.exchange(true)) {
      ::eventfd_write(wake.get(), 1);  // never read again: wakes every loop, which then ends
    }
  }

  HttpsOptions options;
  size_t threads;  // event loops serve() runs
  BufferBudget budget{options.max_buffered_bytes};
  Handler handler;
  ErrorResponder on_error;
  std::unique_ptr<SSL_CTX, SslContextFree> context;
  UniqueFd epoll, wake, listener;
  std::atomic<bool> stopping{false}, finished{false}, listener_paused{false};
  std::atomic<int64_t> next_sweep_ms{0};
  std::mutex registry_mutex;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections;
  std::atomic<size_t> connection_count{0};
};

HttpsServer::HttpsServer(HttpsOptions options, CertificateStore& certificates, Handler handler,
                         ErrorResponder on_error)
    : impl_(std::make_unique<Impl>(std::move(options), certificates, std::move(handler),
                                   std::move(on_error))) {}

HttpsServer::~HttpsServer() = default;

int HttpsServer::bind() {
  Impl& s = *impl_;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string where = s.options.address + ":" + std::to_string(s.options.port);
  if (::getaddrinfo(s.options.address.c_str(), std::to_string(s.options.port).c_str(), &hints,
                    &found) != 0) {
    throw std::runtime_error("cannot listen on " + where + ": unknown address");
  }
  const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
  std::string failure = "no usable address";
  for (const addrinfo* a = addresses.get(); a != nullptr; a = a->ai_next) {
    UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) continue;
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd.get(), 1024) != 0) {
      failure = std::strerror(errno);
      continue;
    }
    sockaddr_storage bound{};
    socklen_t length = sizeof bound;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &length);
    const int port =
        ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6&>(bound).sin6_port
                                          : reinterpret_cast<const sockaddr_in&>(bound).sin_port);
    s.listener = std::move(fd);
    s.arm_listener(EPOLL_CTL_ADD);
    return port;
  }
  throw std::runtime_error("cannot listen on " + where + ": " + failure);
}

size_t HttpsServer::threads() const { return impl_->threads; }

void HttpsServer::serve() {
  Impl& s = *impl_;
  std::vector<std::jthread> loops;
  for (size_t i = 1; i < s.threads; ++i) loops.emplace_back([&s] { s.run_loop(); });
  s.run_loop();
}

void HttpsServer::stop() {
  Impl& s = *impl_;
  if (s.stopping.exchange(true)) return;
  if (s.listener.get() >= 0) ::epoll_ctl(s.epoll.get(), EPOLL_CTL_DEL, s.listener.get(), nullptr);
  ::eventfd_write(s.wake.get(), 1);
}

}  // namespace coderun::server
