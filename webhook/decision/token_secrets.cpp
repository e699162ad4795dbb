#include "decision/token_secrets.h"

#include "decision/json_patch_builder.h"
#include "decision/pod_spec_patch_reader.h"

namespace coderun::decision {
namespace {

using nlohmann::json;

// The app a Secret name stands for under the pattern, or nullopt when it is no token Secret.
std::optional<std::string_view> app_of(std::string_view name, std::string_view pattern) {
  constexpr std::string_view kApp = "{app}";
  const size_t at = pattern.find(kApp);
  if (at == std::string_view::npos) return std::nullopt;  // one Secret for every app
  const std::string_view prefix = pattern.substr(0, at);
  const std::string_view suffix = pattern.substr(at + kApp.size());
  if (name.size() <= prefix.size() + suffix.size() || !name.starts_with(prefix) ||
      !name.ends_with(suffix)) {
    return std::nullopt;
  }
  return name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
}

// Every Secret reference a pod spec can hold: env valueFrom.secretKeyRef.name,
// envFrom[].secretRef.name, volumes[].secret.secretName, projected sources[].secret.name.
std::optional<std::string> find_foreign(const json& node, const std::string& parent,
                                        const policy::TokenSpec& token, std::string_view app) {
  if (node.is_array()) {
    for (const auto& item : node) {
      if (auto found = find_foreign(item, parent, token, app)) return found;
    }
    return std::nullopt;
  }
  if (!node.is_object()) return std::nullopt;
  const bool secret_reference = parent == "secretKeyRef" || parent == "secretRef" ||
                                parent == "secret";
  for (const auto& [key, value] : node.items()) {
    if (secret_reference && (key == "name" || key == "secretName") && value.is_string()) {
      const std::string& name = value.get_ref<const std::string&>();
      if (const auto owner = app_of(name, token.secret_name_pattern); owner && *owner != app)
        return name;
    }
    if (auto found = find_foreign(value, key, token, app)) return found;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> foreign_token_secret(const json& object, RunKind kind,
                                                const policy::TokenSpec& token,
                                                std::string_view app) {
  const json* spec = member(&object, "spec");
  if (spec == nullptr) return std::nullopt;
  if (kind != RunKind::kWorkflow) return find_foreign(*spec, "spec", token, app);
  if (const json* volumes = member(spec, "volumes")) {
    if (auto found = find_foreign(*volumes, "volumes", token, app)) return found;
  }
  if (const json* patch = member(spec, "podSpecPatch"); patch != nullptr && patch->is_string()) {
    // One the webhook cannot read is refused elsewhere when it merges into it (podSpecPatch
    // mode), and is not Argo's to apply either.
    if (const auto read = read_pod_spec_patch(patch->get_ref<const std::string&>()); read.value)
      return find_foreign(*read.value, "podSpecPatch", token, app);
  }
  return std::nullopt;
}

}  // namespace coderun::decision
