#pragma once
#include <string>
#include <vector>

namespace coderun::cli {

// Exit codes shared by every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitDenied = 1;  // review/mutate: the object would be refused
inline constexpr int kExitUsage = 2;   // bad flags, unreadable input, invalid policy

// `coderun-webhook <command> [flags]`: serve, review, mutate, resolve, version.
int run(const std::vector<std::string>& words);

int serve_command(const std::vector<std::string>& flags);
int review_command(const std::vector<std::string>& flags);
int mutate_command(const std::vector<std::string>& flags);
int resolve_command(const std::vector<std::string>& flags);
// `policy test DIR --policy FILE`: words after "policy".
int policy_command(const std::vector<std::string>& words);

}  // namespace coderun::cli
