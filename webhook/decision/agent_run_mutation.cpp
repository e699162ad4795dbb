#include "decision/agent_run_mutation.h"

#include <vector>

#include "decision/pod_plumbing.h"

namespace coderun::decision {
namespace {

using nlohmann::json;

using Path = std::vector<const char*>;

const json* at(const json& object, const Path& path) {
  const json* node = &object;
  for (const char* key : path) {
    node = member(node, key);
    if (node == nullptr) return nullptr;
  }
  return node;
}

std::optional<std::string> text_at(const json& object, const Path& path) {
  const json* node = at(object, path);
  if (node == nullptr) return std::nullopt;
  if (node->is_string()) return node->get<std::string>();
  if (node->is_number_integer()) return node->dump();
  return std::nullopt;
}

bool is_unset(const json* value) {
  return value == nullptr || value->is_null() ||
         (value->is_string() && value->get_ref<const std::string&>().empty());
}

}  // namespace

RunInputs agent_run_inputs(const json& object, RunKind kind) {
  RunInputs inputs;
  inputs.kind = kind;
  inputs.given_source = "spec";
  inputs.app = text_at(object, {"spec", "github", "appName"}).value_or("");
  if (const json* event = at(object, {"spec", "event"}); event != nullptr) {
    if (event->is_object()) {
      inputs.event_object = *event;
    } else if (event->is_string()) {
      inputs.event_text = event->get_ref<const std::string&>();
    } else if (!event->is_null()) {
      inputs.warnings.push_back(std::string("spec.event is a ") + event->type_name() +
                                ", not an object; ignored");
    }
  }
  const std::pair<const char*, Path> fields[] = {
      {"repoFullName", {"spec", "repo"}},
      {"owner", {"spec", "owner"}},
      {"ref", {"spec", "ref"}},
      {"sha", {"spec", "sha"}},
      {"prNumber", {"spec", "pullRequest"}},
      {"issueNumber", {"spec", "issueNumber"}},
      {"systemPromptPath", {"spec", "prompts", "system"}}};
  for (const auto& [field, path] : fields) {
    const json* node = at(object, path);
    if (is_unset(node)) continue;
    const auto text = text_at(object, path);
    inputs.given[field] = text.value_or("");  // another type: the user's; the schema reports it
  }
  const std::pair<const char*, Path> relative_paths[] = {
      {"taskRef", {"spec", "taskRef"}},
      {"prompts.user", {"spec", "prompts", "user"}},
      {"docs.path", {"spec", "docs", "path"}}};
  for (const auto& [name, path] : relative_paths) {
    if (const auto text = text_at(object, path); text && !text->empty())
      inputs.relative_paths[name] = *text;
  }
  return inputs;
}

void add_missing_tree(JsonPatchBuilder& patch, const json* existing, const std::string& path,
                      const json& desired) {
  if (is_unset(existing)) {
    patch.add(path, desired);
    return;
  }
  if (!existing->is_object() || !desired.is_object()) return;
  for (const auto& [key, value] : desired.items()) {
    add_missing_tree(patch, member(existing, key), path + "/" + JsonPatchBuilder::escape(key),
                     value);
  }
}

void add_agent_run_spec(JsonPatchBuilder& patch, const json& object,
                        const RunResolution& resolution, const policy::Policy& policy,
                        const PodPlumbing& plumbing, RunKind kind) {
  const bool docs = kind == RunKind::kDocsRun;
  json desired = {
      {"prompts", {{"user", docs ? "docs/task.md" : "task/prompt.md"}}},
      {"github", {{"tokenFile", policy.token_volume.mount_path + "/token"}}},
      {"workspace", {{"path", policy.workspace.mount_path}}},
  };
  if (docs) {
    desired["docs"] = {{"path", "docs/"}, {"action", "build-preview"}};
  } else {
    desired["mcpRequirementsFile"] = policy.mcp_requirements.mount_path;
  }
  for (const auto& field : resolution.to_fill) {
    const Sourced* value = resolution.find(field);
    if (value == nullptr) continue;
    if (field == "repoFullName") desired["repo"] = value->value;
    if (field == "owner") desired["owner"] = value->value;
    if (field == "ref") desired["ref"] = value->value;
    if (field == "sha") desired["sha"] = value->value;
    if (field == "prNumber") desired["pullRequest"] = std::stoull(value->value);  // checked digits
    if (field == "issueNumber") desired["issueNumber"] = std::stoull(value->value);
    if (field == "systemPromptPath") desired["prompts"]["system"] = value->value;
  }
  const json* spec = member(&object, "spec");
  if (spec == nullptr) {
    desired["initContainers"] = json::array({plumbing.token_container(resolution.app)});
    desired["volumes"] = plumbing.volumes();
    desired["volumeMounts"] = plumbing.volume_mounts();
    patch.add("/spec", desired);
    return;
  }
  add_missing_tree(patch, spec, "/spec", desired);
  add_missing_by_name(patch, member(spec, "initContainers"), "/spec/initContainers",
                      {plumbing.token_container(resolution.app)});
  add_missing_by_name(patch, member(spec, "volumes"), "/spec/volumes", plumbing.volumes());
  add_missing_by_name(patch, member(spec, "volumeMounts"), "/spec/volumeMounts",
                      plumbing.volume_mounts(), "mountPath");
}

}  // namespace coderun::decision
