#include "cli/commands.h"

#include <iostream>

#include "cli/args.h"
#include "policy/policy.h"

namespace coderun::cli {
namespace {

constexpr const char* kUsage =
    R"(coderun-webhook: admission webhook for Argo Workflows, CodeRuns and DocsRuns

Usage:
  coderun-webhook serve   --cert FILE --key FILE [--policy FILE] [--prompts-dir DIR]
                          [--addr 0.0.0.0] [--port 8443] [--threads N (0: per CPU)] [--port-file FILE]
                          [--log-level info] [--metrics-addr 0.0.0.0] [--metrics-port 9090 (-1: off)]
                          [--kubeconfig FILE] [--max-body-bytes N] [--shutdown-delay SECONDS]
                          [--read-timeout SECONDS] [--max-connections 512]
                          [--max-buffered-bytes 50331648]
  coderun-webhook review  -f admissionreview.json|yaml [--validate] [--policy FILE] [--prompts-dir DIR]
  coderun-webhook mutate  -f workflow.yaml|json [--event event.json] [--policy FILE] [--prompts-dir DIR] [--json]
  coderun-webhook resolve -f event.json [--event-type TYPE]
  coderun-webhook version

Exit codes: 0 allowed, 1 denied (review, mutate), 2 usage or input error.
)";

}  // namespace

int run(const std::vector<std::string>& words) {
  if (words.empty() || words[0] == "help" || words[0] == "--help" || words[0] == "-h") {
    std::cout << kUsage;
    return words.empty() ? kExitUsage : kExitOk;
  }
  const std::string& command = words[0];
  const std::vector<std::string> flags(words.begin() + 1, words.end());
  try {
    if (command == "serve") return serve_command(flags);
    if (command == "review") return review_command(flags);
    if (command == "mutate") return mutate_command(flags);
    if (command == "resolve") return resolve_command(flags);
    if (command == "version" || command == "--version") {
      std::cout << "coderun-webhook " << CODERUN_VERSION << "\n";
      return kExitOk;
    }
    std::cerr << "unknown command '" << command << "'\n\n" << kUsage;
    return kExitUsage;
  } catch (const UsageError& e) {
    std::cerr << "coderun-webhook " << command << ": " << e.what() << "\n";
    return kExitUsage;
  } catch (const policy::PolicyError& e) {
    std::cerr << "coderun-webhook " << command << ": " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "coderun-webhook " << command << ": " << e.what() << "\n";
    return kExitUsage;
  }
}

}  // namespace coderun::cli
