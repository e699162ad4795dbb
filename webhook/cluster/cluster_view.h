#pragma once
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace coderun::cluster {

// What the cluster holds in one namespace, as far as the webhook watches it: the named
// ConfigMaps present (with their data keys, never their values), the named Secrets present
// (names only: the webhook never reads Secret data) and the namespace's annotations.
struct NamespaceFacts {
  std::map<std::string, std::set<std::string, std::less<>>, std::less<>> config_map_keys;
  std::set<std::string, std::less<>> secrets;
  std::map<std::string, std::string, std::less<>> annotations;
};

// The decision's read-only window on the cluster: an immutable state, so that a decision stays a
// pure function of its inputs (and tests pass a fake one).
class ClusterView {
 public:
  virtual ~ClusterView() = default;
  // nullptr when the namespace holds none of the watched objects (nor is known as a namespace).
  virtual const NamespaceFacts* find(std::string_view namespace_name) const = 0;
  // false until every watched kind has been listed once: nothing can be concluded from absence.
  virtual bool synced() const = 0;
  // false when the webhook may not list Secrets (RBAC): their absence proves nothing.
  virtual bool secrets_known() const = 0;
  // How old the state is when a watch is broken (the API server unreachable); nullopt when live.
  virtual std::optional<std::chrono::seconds> stale_for() const = 0;
};

// The one implementation: a shared, immutable map of facts plus what is known of its freshness.
class ClusterSnapshot final : public ClusterView {
 public:
  using Facts = std::map<std::string, NamespaceFacts, std::less<>>;

  ClusterSnapshot() : facts_(std::make_shared<const Facts>()) {}
  ClusterSnapshot(std::shared_ptr<const Facts> facts, bool synced, bool secrets_known,
                  std::optional<std::chrono::seconds> stale_for)
      : facts_(std::move(facts)),
        synced_(synced),
        secrets_known_(secrets_known),
        stale_for_(stale_for) {}

  const NamespaceFacts* find(std::string_view namespace_name) const override {
    const auto it = facts_->find(namespace_name);
    return it == facts_->end() ? nullptr : &it->second;
  }
  bool synced() const override { return synced_; }
  bool secrets_known() const override { return secrets_known_; }
  std::optional<std::chrono::seconds> stale_for() const override { return stale_for_; }
  const Facts& facts() const { return *facts_; }

 private:
  std::shared_ptr<const Facts> facts_;
  bool synced_ = true;
  bool secrets_known_ = true;
  std::optional<std::chrono::seconds> stale_for_;
};

}  // namespace coderun::cluster
