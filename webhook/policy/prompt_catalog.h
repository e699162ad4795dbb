#pragma once
#include <string>

namespace coderun::policy {

// Answers whether a system prompt file exists. The decision asks at request time, so a
// controller-agents ConfigMap update (a new prompt) is seen without a restart.
class PromptCatalog {
 public:
  virtual ~PromptCatalog() = default;
  virtual bool exists(const std::string& path) const = 0;
};

// The real one: a regular file (or a symlink to one, as ConfigMap mounts are) on disk.
class FileSystemPromptCatalog final : public PromptCatalog {
 public:
  bool exists(const std::string& path) const override;
};

}  // namespace coderun::policy
