#include "admission/user_info.h"

#include <algorithm>

namespace coderun::admission {

bool UserInfo::in_group(std::string_view group) const {
  return std::find(groups.begin(), groups.end(), group) != groups.end();
}

std::string UserInfo::describe() const {
  std::string text = service_account.empty()
                         ? "user " + (username.empty() ? std::string("(unknown)") : username)
                         : "service account " + service_account;
  if (!groups.empty()) {
    text += " (groups ";
    for (size_t i = 0; i < groups.size(); ++i) text += (i == 0 ? "" : ", ") + groups[i];
    text += ")";
  }
  return text;
}

std::string service_account_of(std::string_view username) {
  constexpr std::string_view kPrefix = "system:serviceaccount:";
  if (!username.starts_with(kPrefix)) return "";
  const std::string_view rest = username.substr(kPrefix.size());
  const auto colon = rest.find(':');
  // Exactly NS:NAME, both non-empty: anything else is not a name the API server gives.
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size() ||
      rest.find(':', colon + 1) != std::string_view::npos) {
    return "";
  }
  return std::string(rest);
}

}  // namespace coderun::admission
