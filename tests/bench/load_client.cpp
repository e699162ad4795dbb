// A load client that behaves like the API server: TLS with the webhook's CA, keep-alive
// connections, concurrent requests, a fresh uid in every AdmissionReview, every answer checked.
// Like the API server's Go runtime, it multiplexes all its connections over a few OS threads
// (one by default, on epoll), so that its own cost stays small and apart from the server's.
//   coderun-loadgen --port P --ca ca.crt --body review.json --concurrency 16 --seconds 10
// Prints one JSON object: requests, errors, rps, p50/p99/max latency in microseconds, and the
// client's own CPU time.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <simdjson.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int port = 8443;
  std::string ca, body_path, path = "/mutate?timeout=10s";
  int concurrency = 1;
  int threads = 1;
  double seconds = 5;
};

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--port") options.port = std::stoi(value);
    if (flag == "--ca") options.ca = value;
    if (flag == "--body") options.body_path = value;
    if (flag == "--path") options.path = value;
    if (flag == "--concurrency") options.concurrency = std::stoi(value);
    if (flag == "--threads") options.threads = std::stoi(value);
    if (flag == "--seconds") options.seconds = std::stod(value);
  }
  options.threads = std::clamp(options.threads, 1, options.concurrency);
  return options;
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

// The request body around its uid, so that each request gets a fresh one without a JSON round trip.
struct Template {
  std::string path, before, after;
  // Written once into the request, without an intermediate copy of the 30 KB body.
  std::string request(const std::string& uid) const {
    const std::string uid_member = "\"uid\":\"" + uid + "\"";
    const size_t length = before.size() + uid_member.size() + after.size();
    std::string out = "POST " + path +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: coderun-loadgen\r\n"
                      "Content-Type: application/json\r\nAccept: application/json\r\n"
                      "Content-Length: " +
                      std::to_string(length) + "\r\n\r\n";
    out.reserve(out.size() + length);
    out += before;
    out += uid_member;
    out += after;
    return out;
  }
};

struct Results {
  std::vector<long> latencies;
  long errors = 0;
  std::string first_error;
  void fail(const std::string& why) {
    if (errors++ == 0) first_error = why;
  }
};

// One keep-alive connection with one request in flight at a time.
class Connection {
 public:
  Connection(SSL_CTX* context, int port, std::string name) : name_(std::move(name)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error("connect failed");
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ssl_.reset(SSL_new(context));
    SSL_set_fd(ssl_.get(), fd_);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), "127.0.0.1");
    if (SSL_connect(ssl_.get()) != 1) {  // blocking, before the clock starts
      throw std::runtime_error("TLS handshake failed: " +
                               std::string(ERR_reason_error_string(ERR_get_error())));
    }
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  ~Connection() {
    ssl_.reset();
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }
  bool broken() const { return broken_; }
  bool wants_write() const { return sent_ < out_.size(); }

  void send(const Template& request_template) {
    uid_ = name_ + "-" + std::to_string(count_++);
    out_ = request_template.request(uid_);
    sent_ = 0;
    in_.clear();
    started_ = Clock::now();
    write();
  }

  // Makes progress; true when the response is complete (recorded in results).
  bool on_ready(Results& results) {
    if (wants_write() && !write()) return fail(results, "write failed");
    char buffer[32768];
    while (true) {
      ERR_clear_error();
      const int got = SSL_read(ssl_.get(), buffer, sizeof buffer);
      if (got <= 0) {
        const int error = SSL_get_error(ssl_.get(), got);
        if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) break;
        return fail(results, "connection closed by the server");
      }
      in_.append(buffer, static_cast<size_t>(got));
    }
    const size_t head_end = in_.find("\r\n\r\n");
    if (head_end == std::string::npos) return false;
    const std::string head = in_.substr(0, head_end);
    std::string lower(head);
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    const size_t length_at = lower.find("\r\ncontent-length:");
    if (length_at == std::string::npos) return fail(results, "no Content-Length: " + head);
    const size_t length = std::stoul(head.substr(length_at + 17));
    if (in_.size() < head_end + 4 + length) return false;
    const long took =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_).count();
    const std::string body = in_.substr(head_end + 4, length);
    if (head.rfind("HTTP/1.1 200 ", 0) != 0) return fail(results, head + " " + body.substr(0, 200));
    // The whole answer is parsed (simdjson: the check must not cost more than the request).
    simdjson::dom::element answer;
    std::string_view uid, patch;
    bool allowed = false;
    if (parser_.parse(body).get(answer) != simdjson::SUCCESS ||
        answer["response"]["uid"].get(uid) != simdjson::SUCCESS || uid != uid_ ||
        answer["response"]["allowed"].get(allowed) != simdjson::SUCCESS || !allowed ||
        answer["response"]["patch"].get(patch) != simdjson::SUCCESS || patch.empty()) {
      return fail(results, "wrong answer: " + body.substr(0, 200));
    }
    results.latencies.push_back(took);
    return true;
  }

 private:
  bool write() {
    while (sent_ < out_.size()) {
      ERR_clear_error();
      const int wrote = SSL_write(ssl_.get(), out_.data() + sent_,
                                  static_cast<int>(std::min<size_t>(out_.size() - sent_, INT_MAX)));
      if (wrote <= 0) {
        const int error = SSL_get_error(ssl_.get(), wrote);
        return error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ;
      }
      sent_ += static_cast<size_t>(wrote);
    }
    return true;
  }
  bool fail(Results& results, const std::string& why) {
    results.fail(why);
    broken_ = true;
    return false;
  }

  std::string name_;
  simdjson::dom::parser parser_;
  int fd_ = -1;
  std::unique_ptr<SSL, SslFree> ssl_;
  std::string out_, in_, uid_;
  size_t sent_ = 0;
  long count_ = 0;
  bool broken_ = false;
  Clock::time_point started_;
};

// Runs `connections` connections on one epoll until `stop`.
Results run_loop(SSL_CTX* context, const Options& options, const Template& request_template,
                 int first, int connections, const std::atomic<bool>& stop) {
  Results results;
  results.latencies.reserve(1 << 20);
  std::vector<std::unique_ptr<Connection>> open;
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  try {
    for (int i = 0; i < connections; ++i) {
      open.push_back(std::make_unique<Connection>(context, options.port,
                                                  "bench-" + std::to_string(first + i)));
    }
  } catch (const std::exception& e) {
    results.fail(e.what());
    ::close(epoll);
    return results;
  }
  for (auto& connection : open) {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLET;
    event.data.ptr = connection.get();
    ::epoll_ctl(epoll, EPOLL_CTL_ADD, connection->fd(), &event);
    connection->send(request_template);
  }
  epoll_event events[64];
  int live = connections;
  while (!stop.load() && live > 0) {
    const int ready = ::epoll_wait(epoll, events, 64, 100);
    for (int i = 0; i < ready; ++i) {
      auto* connection = static_cast<Connection*>(events[i].data.ptr);
      if (connection->broken()) continue;
      if (connection->on_ready(results)) {
        if (!stop.load()) connection->send(request_template);
      } else if (connection->broken()) {
        --live;
      }
    }
  }
  ::close(epoll);
  return results;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  std::ifstream in(options.body_path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string body = text.str();
  const std::string marker = "\"uid\":\"BENCH-UID\"";
  const auto at = body.find(marker);
  if (at == std::string::npos) {
    std::cerr << "the body must contain " << marker << "\n";
    return 2;
  }
  const Template request_template{options.path, body.substr(0, at),
                                  body.substr(at + marker.size())};

  const std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> context(SSL_CTX_new(TLS_client_method()),
                                                                  &SSL_CTX_free);
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(context.get(), options.ca.c_str(), nullptr) != 1) {
    std::cerr << "cannot read the CA " << options.ca << "\n";
    return 2;
  }
  SSL_CTX_set_mode(context.get(),
                   SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_read_ahead(context.get(), 1);

  std::atomic<bool> stop{false};
  std::mutex merge;
  Results all;
  const double cpu_start = cpu_seconds();
  const auto start = Clock::now();
  std::vector<std::thread> loops;
  for (int t = 0, first = 0; t < options.threads; ++t) {
    const int count =
        options.concurrency / options.threads + (t < options.concurrency % options.threads);
    loops.emplace_back([&, first, count] {
      Results mine = run_loop(context.get(), options, request_template, first, count, stop);
      const std::lock_guard lock(merge);
      all.latencies.insert(all.latencies.end(), mine.latencies.begin(), mine.latencies.end());
      if (all.errors == 0) all.first_error = mine.first_error;
      all.errors += mine.errors;
    });
    first += count;
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(options.seconds));
  stop = true;
  for (auto& loop : loops) loop.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double client_cpu = cpu_seconds() - cpu_start;
  auto& latencies = all.latencies;
  std::sort(latencies.begin(), latencies.end());
  const auto percentile = [&](double p) -> long {
    if (latencies.empty()) return 0;
    return latencies[std::min(latencies.size() - 1, static_cast<size_t>(p * latencies.size()))];
  };
  const nlohmann::json out = {
      {"concurrency", options.concurrency}, {"client_threads", options.threads},
      {"requests", latencies.size()},       {"errors", all.errors},
      {"first_error", all.first_error},     {"seconds", elapsed},
      {"rps", latencies.size() / elapsed},  {"p50_us", percentile(0.50)},
      {"p99_us", percentile(0.99)},         {"max_us", latencies.empty() ? 0 : latencies.back()},
      {"client_cpu_s", client_cpu}};
  std::cout << out.dump() << "\n";
  return all.errors == 0 ? 0 : 1;
}
