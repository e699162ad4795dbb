// A load client that behaves like the API server: TLS with the webhook's CA, keep-alive
// connections, concurrent requests, a fresh uid in every AdmissionReview, every answer checked.
//   coderun-loadgen --port P --ca ca.crt --body review.json --concurrency 16 --seconds 10
// Prints one JSON object: requests, errors, rps, p50/p99/max latency in microseconds, and the
// client's own CPU time, so that it can be kept apart from the server's.
#include <httplib.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Options {
  int port = 8443;
  std::string ca, body_path, path = "/mutate?timeout=10s";
  int concurrency = 1;
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
    if (flag == "--seconds") options.seconds = std::stod(value);
  }
  return options;
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
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
  const std::string before = body.substr(0, at), after = body.substr(at + marker.size());

  std::atomic<bool> stop{false};
  std::atomic<long> errors{0};
  std::mutex merge;
  std::vector<long> latencies;
  std::string first_error;
  const double cpu_start = cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < options.concurrency; ++w) {
    workers.emplace_back([&, w] {
      httplib::SSLClient client("127.0.0.1", options.port);
      client.set_ca_cert_path(options.ca.c_str());
      client.enable_server_certificate_verification(true);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      client.set_read_timeout(10, 0);
      std::vector<long> mine;
      mine.reserve(200000);
      std::string error;
      for (long n = 0; !stop; ++n) {
        const std::string uid = "bench-" + std::to_string(w) + "-" + std::to_string(n);
        const std::string request = before + "\"uid\":\"" + uid + "\"" + after;
        const auto sent = std::chrono::steady_clock::now();
        const auto response = client.Post(options.path, request, "application/json");
        const auto took = std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - sent);
        bool ok = response && response->status == 200;
        if (ok) {
          const auto answer = nlohmann::json::parse(response->body, nullptr, false);
          ok = !answer.is_discarded() && answer["response"]["uid"] == uid &&
               answer["response"]["allowed"] == true && answer["response"].contains("patch");
        }
        if (!ok) {
          ++errors;
          if (error.empty())
            error = response ? "status " + std::to_string(response->status) + ": " +
                                   response->body.substr(0, 200)
                             : httplib::to_string(response.error());
          continue;
        }
        mine.push_back(took.count());
      }
      std::lock_guard lock(merge);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
      if (first_error.empty()) first_error = error;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(options.seconds));
  stop = true;
  for (auto& worker : workers) worker.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double client_cpu = cpu_seconds() - cpu_start;
  std::sort(latencies.begin(), latencies.end());
  const auto percentile = [&](double p) -> long {
    if (latencies.empty()) return 0;
    return latencies[std::min(latencies.size() - 1, static_cast<size_t>(p * latencies.size()))];
  };
  const nlohmann::json out = {{"concurrency", options.concurrency},
                              {"requests", latencies.size()},
                              {"errors", errors.load()},
                              {"first_error", first_error},
                              {"seconds", elapsed},
                              {"rps", latencies.size() / elapsed},
                              {"p50_us", percentile(0.50)},
                              {"p99_us", percentile(0.99)},
                              {"max_us", latencies.empty() ? 0 : latencies.back()},
                              {"client_cpu_s", client_cpu}};
  std::cout << out.dump() << "\n";
  return errors.load() == 0 ? 0 : 1;
}
