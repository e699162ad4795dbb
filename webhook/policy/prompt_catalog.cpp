#include "policy/prompt_catalog.h"

#include <sys/stat.h>

namespace coderun::policy {

bool FileSystemPromptCatalog::exists(const std::string& path) const {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

}  // namespace coderun::policy
