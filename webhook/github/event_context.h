#pragma once
#include <optional>
#include <string>
#include <vector>

namespace coderun::github {

// A value and where it came from: an event path such as ".pull_request.head.ref", a derived form
// such as "refs/pull/{.pull_request.number}/head", "parameter" or "default".
struct Sourced {
  std::string value;
  std::string source;
  bool operator==(const Sourced&) const = default;
};

// Everything the webhook can learn about the repository and revision from a GitHub event.
struct EventContext {
  std::string event_type;  // X-GitHub-Event if given, else inferred from the payload's shape
  std::optional<Sourced> owner;
  std::optional<Sourced> repo;
  std::optional<Sourced> repo_full_name;
  std::optional<Sourced> ref;  // a ref that exists in repo_full_name (see README: ref rules)
  std::optional<Sourced> sha;
  std::optional<Sourced> pr_number;
  std::optional<Sourced> issue_number;
  // Set when a pull request's head lives in another repository (a fork); ref is then
  // refs/pull/N/head, which GitHub keeps in the base repository.
  std::optional<Sourced> head_repo_full_name;
  // Why a value differs from what the seed's jq would give, or was ignored (one line each).
  std::vector<std::string> notes;
};

}  // namespace coderun::github
