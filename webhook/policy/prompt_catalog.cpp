#include "policy/prompt_catalog.h"

#include <sys/stat.h>

namespace coderun::policy {

bool FileSystemPromptCatalog::exists(const std::string& pods_dir, std::string_view name) const {
  const std::string path = local_dir_.value_or(pods_dir) + "/" + std::string(name);
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

}  // namespace coderun::policy
