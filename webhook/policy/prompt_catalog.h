#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace coderun::policy {

// Answers whether a system prompt file exists. The decision asks at request time, so a
// controller-agents ConfigMap update (a new prompt) is seen without a restart.
// pods_dir is where agent pods see the prompts (the policy's promptsDir): the path the decision
// writes into objects. name is the file's path relative to it, already checked to stay inside.
class PromptCatalog {
 public:
  virtual ~PromptCatalog() = default;
  virtual bool exists(const std::string& pods_dir, std::string_view name) const = 0;
};

// The real one: a regular file (or a symlink to one, as ConfigMap mounts are) on disk. In the
// cluster the webhook mounts controller-agents where the pods do, so it looks under pods_dir;
// outside (`make run`, the offline commands) --prompts-dir names a local copy instead, and the
// objects still get the pods' path.
class FileSystemPromptCatalog final : public PromptCatalog {
 public:
  explicit FileSystemPromptCatalog(std::optional<std::string> local_dir = std::nullopt)
      : local_dir_(std::move(local_dir)) {}
  bool exists(const std::string& pods_dir, std::string_view name) const override;

 private:
  std::optional<std::string> local_dir_;
};

}  // namespace coderun::policy
