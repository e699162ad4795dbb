#pragma once
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "policy/policy.h"

namespace coderun::policy {

// Owns the policy in force. Reads the file at start (a bad file throws PolicyError: the process
// exits 2) and again when it changes; a bad file on reload keeps the last good policy.
class PolicyStore {
 public:
  enum class ReloadOutcome { kUnchanged, kReloaded, kRejected };

  explicit PolicyStore(std::string path);  // throws PolicyError
  explicit PolicyStore(Policy fixed);  // no file: for the offline commands and tests

  std::shared_ptr<const Policy> current() const;
  // Compares the file's identity (inode, size, mtime; ConfigMap updates swap a symlink) with the
  // last read and re-reads it when it differs.
  ReloadOutcome reload_if_changed();
  // Why the last reload was rejected; nullopt while the file in force is the file on disk.
  std::optional<std::string> last_error() const;
  const std::string& path() const { return path_; }

 private:
  struct FileIdentity {
    unsigned long long inode = 0, size = 0;
    long long mtime_ns = 0;
    bool operator==(const FileIdentity&) const = default;
  };
  static std::optional<FileIdentity> identify(const std::string& path);

  Policy load() const;

  std::string path_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Policy> current_;
  std::optional<FileIdentity> loaded_identity_;
  std::optional<std::string> last_error_;
};

}  // namespace coderun::policy
