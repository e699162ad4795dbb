#include "cli/commands.h"

#include <algorithm>
#include <iostream>

#include "cli/args.h"
#include "cli/help.h"
#include "policy/policy.h"

namespace coderun::cli {
namespace {

bool asks(const std::vector<std::string>& flags, std::initializer_list<const char*> words) {
  return std::any_of(flags.begin(), flags.end(), [&words](const std::string& flag) {
    return std::any_of(words.begin(), words.end(), [&flag](const char* w) { return flag == w; });
  });
}

int print_version() {
  std::cout << "coderun-webhook " << CODERUN_VERSION << "\n";
  return kExitOk;
}

}  // namespace

int run(const std::vector<std::string>& words) {
  if (words.empty()) {
    std::cerr << general_help();
    return kExitUsage;
  }
  const std::string& command = words[0];
  const std::vector<std::string> flags(words.begin() + 1, words.end());
  if (command == "--help" || command == "-h" || command == "help") {
    if (!flags.empty()) {  // `help serve`
      if (const CommandSpec* spec = find_command(flags[0])) {
        std::cout << command_help(*spec);
        return kExitOk;
      }
    }
    std::cout << general_help();
    return kExitOk;
  }
  if (command == "version" || command == "--version") return print_version();
  const CommandSpec* spec = find_command(command);
  if (spec == nullptr) {
    std::cerr << "coderun-webhook: unknown command '" << command << "'\n\n" << general_help();
    return kExitUsage;
  }
  // Asked for anywhere among the flags, before they are checked: help is what a user who got
  // the flags wrong needs.
  if (asks(flags, {"--help", "-h"})) {
    std::cout << command_help(*spec);
    return kExitOk;
  }
  if (asks(flags, {"--version"})) return print_version();
  try {
    if (command == "serve") return serve_command(flags);
    if (command == "review") return review_command(flags);
    if (command == "mutate") return mutate_command(flags);
    if (command == "policy") return policy_command(flags);
    return resolve_command(flags);
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
