#include "github/safe_values.h"

#include <algorithm>
#include <cctype>

namespace coderun::github {
namespace {

constexpr std::string_view kShellCharacters = "$`();|&<>'\"\\*?[]{}!#~^ \t\n\r";

bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

std::optional<std::string> shell_character(std::string_view value) {
  for (const char c : value) {
    if (c == '\0') return "contains a NUL byte";
    if (is_control(c)) return "contains a control character";
    if (kShellCharacters.find(c) != std::string_view::npos) {
      return std::string("contains '") + c + "', which a shell would act on";
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> check_ref(std::string_view ref) {
  if (ref.empty()) return "is empty";
  if (ref.size() > 255) return "is longer than 255 characters";
  if (auto bad = shell_character(ref)) return bad;
  if (ref.front() == '-') return "starts with '-', which git would read as an option";
  if (ref.front() == '/' || ref.back() == '/') return "starts or ends with '/'";
  if (ref.back() == '.') return "ends with '.'";
  if (ref == "@") return "is '@'";
  if (ref.find("..") != std::string_view::npos) return "contains '..'";
  if (ref.find("//") != std::string_view::npos) return "contains '//'";
  if (ref.find("@{") != std::string_view::npos) return "contains '@{'";
  if (ref.find(':') != std::string_view::npos) return "contains ':'";
  size_t start = 0;
  while (start <= ref.size()) {
    const size_t end = std::min(ref.find('/', start), ref.size());
    const std::string_view component = ref.substr(start, end - start);
    if (component.starts_with('.')) return "has a path component starting with '.'";
    if (component.ends_with(".lock")) return "has a path component ending with '.lock'";
    start = end + 1;
  }
  return std::nullopt;
}

std::optional<std::string> check_owner(std::string_view owner) {
  if (owner.empty()) return "is empty";
  if (owner.size() > 39) return "is longer than 39 characters";
  if (owner.front() == '-' || owner.back() == '-') return "starts or ends with '-'";
  if (owner.find("--") != std::string_view::npos) return "contains '--'";
  const bool valid =
      std::all_of(owner.begin(), owner.end(), [](char c) { return is_alnum(c) || c == '-'; });
  if (!valid) return "may only contain letters, digits and single hyphens";
  return std::nullopt;
}

std::optional<std::string> check_repo(std::string_view repo) {
  if (repo.empty()) return "is empty";
  if (repo.size() > 100) return "is longer than 100 characters";
  if (repo == "." || repo == "..") return "is '.' or '..'";
  const bool valid = std::all_of(repo.begin(), repo.end(), [](char c) {
    return is_alnum(c) || c == '.' || c == '_' || c == '-';
  });
  if (!valid) return "may only contain letters, digits, '.', '_' and '-'";
  return std::nullopt;
}

std::optional<std::string> check_repo_full_name(std::string_view full_name) {
  const size_t slash = full_name.find('/');
  if (slash == std::string_view::npos) return "is not of the form owner/repo";
  if (auto bad = check_owner(full_name.substr(0, slash))) return "owner " + *bad;
  if (auto bad = check_repo(full_name.substr(slash + 1))) return "repository name " + *bad;
  return std::nullopt;
}

std::optional<std::string> check_number(std::string_view number) {
  if (number.empty()) return "is empty";
  if (number.size() > 18) return "is too large";
  if (number.front() == '0') return "is not a positive integer";
  const bool digits =
      std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) return "is not a positive integer";
  return std::nullopt;
}

std::optional<std::string> check_sha(std::string_view sha) {
  if (sha.size() != 40 && sha.size() != 64) return "is not a 40 or 64 digit commit hash";
  const bool hex = std::all_of(sha.begin(), sha.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
  if (!hex) return "is not lowercase hexadecimal";
  return std::nullopt;
}

std::optional<std::string> check_relative_path(std::string_view path) {
  if (path.empty()) return "is empty";
  if (path.size() > 4096) return "is longer than 4096 characters";
  if (auto bad = shell_character(path)) return bad;
  if (path.front() == '/') return "is absolute; it must be relative";
  if (path.front() == '-') return "starts with '-'";
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = std::min(path.find('/', start), path.size());
    if (path.substr(start, end - start) == "..") return "contains a '..' component";
    start = end + 1;
  }
  return std::nullopt;
}

std::optional<std::string> check_path_inside(std::string_view path, std::string_view dir) {
  std::string prefix(dir);
  if (!prefix.ends_with('/')) prefix += '/';
  if (!path.starts_with(prefix)) return "is not inside " + std::string(dir);
  return check_relative_path(path.substr(prefix.size()));
}

}  // namespace coderun::github
