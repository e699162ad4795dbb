#include "policy/policy_store.h"

#include <sys/stat.h>

namespace coderun::policy {

PolicyStore::PolicyStore(std::string path) : path_(std::move(path)) {
  loaded_identity_ = identify(path_);
  current_ = std::make_shared<const Policy>(load());
}

Policy PolicyStore::load() const { return load_policy_file(path_); }

PolicyStore::PolicyStore(Policy fixed)
    : current_(std::make_shared<const Policy>(std::move(fixed))) {}

std::shared_ptr<const Policy> PolicyStore::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

std::optional<std::string> PolicyStore::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

std::optional<PolicyStore::FileIdentity> PolicyStore::identify(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return std::nullopt;
  return FileIdentity{
      static_cast<unsigned long long>(info.st_ino), static_cast<unsigned long long>(info.st_size),
      static_cast<long long>(info.st_mtim.tv_sec) * 1000000000LL + info.st_mtim.tv_nsec};
}

PolicyStore::ReloadOutcome PolicyStore::reload_if_changed() {
  if (path_.empty()) return ReloadOutcome::kUnchanged;
  const auto identity = identify(path_);
  {
    std::lock_guard lock(mutex_);
    if (identity == loaded_identity_) return ReloadOutcome::kUnchanged;
  }
  try {
    auto fresh = std::make_shared<const Policy>(load());
    std::lock_guard lock(mutex_);
    current_ = std::move(fresh);
    loaded_identity_ = identity;
    last_error_.reset();
    return ReloadOutcome::kReloaded;
  } catch (const PolicyError& e) {
    std::lock_guard lock(mutex_);
    loaded_identity_ = identity;  // do not retry the same bad file every tick
    last_error_ = e.what();
    return ReloadOutcome::kRejected;
  }
}

}  // namespace coderun::policy
