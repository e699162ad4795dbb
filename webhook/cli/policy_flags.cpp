#include "cli/policy_flags.h"

#include <filesystem>

namespace coderun::cli {

std::string absolute_dir(const std::string& dir) {
  std::string path = std::filesystem::absolute(dir).lexically_normal().string();
  while (path.size() > 1 && path.ends_with('/')) path.pop_back();
  return path;
}

policy::Policy policy_from_flags(const Args& args) {
  policy::Policy policy;
  if (const auto file = args.get("policy")) policy = policy::load_policy_file(*file);
  return policy;
}

policy::FileSystemPromptCatalog prompts_from_flags(const Args& args) {
  if (const auto dir = args.get("prompts-dir")) {
    return policy::FileSystemPromptCatalog(absolute_dir(*dir));
  }
  return policy::FileSystemPromptCatalog();
}

}  // namespace coderun::cli
