#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace coderun::github {

// Each check returns why the value is refused, or nullopt when it is safe to substitute into a
// shell step of a workflow. Values are never repaired: a refused value is a denial (README: rules).

// git check-ref-format (--allow-onelevel, as a branch) plus no character a shell acts on.
std::optional<std::string> check_ref(std::string_view ref);
// GitHub login: letters, digits and single inner hyphens, at most 39 characters.
std::optional<std::string> check_owner(std::string_view owner);
// GitHub repository name: letters, digits, '.', '_' and '-', at most 100, not "." or "..".
std::optional<std::string> check_repo(std::string_view repo);
// owner/repo with both parts valid.
std::optional<std::string> check_repo_full_name(std::string_view full_name);
// A positive decimal integer without sign or leading zero.
std::optional<std::string> check_number(std::string_view number);
// A hex object name: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
std::optional<std::string> check_sha(std::string_view sha);
// A relative path that stays inside its directory: no '..' component, not absolute, no NUL,
// no shell characters.
std::optional<std::string> check_relative_path(std::string_view path);
// An absolute path inside dir (after the same checks on the part below dir).
std::optional<std::string> check_path_inside(std::string_view path, std::string_view dir);

}  // namespace coderun::github
