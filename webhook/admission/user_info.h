#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace coderun::admission {

// Who is asking, as the API server states it in request.userInfo (it fills the field itself;
// clients cannot set it).
struct UserInfo {
  std::string username;
  std::string uid;
  std::vector<std::string> groups;
  // "NS:NAME" when username is system:serviceaccount:NS:NAME; empty for people and other users.
  std::string service_account;

  bool in_group(std::string_view group) const;
  // "user alice (groups team-b)" or "service account argo:coderun-workflow (groups ...)": the
  // subject as a denial names it.
  std::string describe() const;
};

// "NS:NAME" from "system:serviceaccount:NS:NAME"; empty when the name is not a service account's.
std::string service_account_of(std::string_view username);

}  // namespace coderun::admission
