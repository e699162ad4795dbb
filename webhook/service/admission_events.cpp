#include "service/admission_events.h"

#include <cctype>
#include <optional>

#include "decision/json_patch_builder.h"
#include "decision/metadata_mutation.h"

namespace coderun::service {
namespace {

using nlohmann::json;

kube::ObjectReference regarding_of(const admission::Request& request) {
  kube::ObjectReference ref;
  ref.kind = request.kind.kind;
  ref.api_version = request.kind.group.empty() ? request.kind.version
                                               : request.kind.group + "/" + request.kind.version;
  ref.namespace_name = request.namespace_name;
  ref.name = request.name;
  const json* metadata = request.object ? decision::member(&*request.object, "metadata") : nullptr;
  if (ref.name.empty() && metadata != nullptr) {
    if (const json* name = decision::member(metadata, "name"); name && name->is_string())
      ref.name = *name;
  }
  if (ref.name.empty() && metadata != nullptr) {
    // Denied on the mutating pass: the object never gets a name; its generateName is the best
    // handle.
    if (const json* prefix = decision::member(metadata, "generateName");
        prefix && prefix->is_string()) {
      ref.name = *prefix;
    }
  }
  if (ref.namespace_name.empty() && metadata != nullptr) {
    if (const json* ns = decision::member(metadata, "namespace"); ns && ns->is_string())
      ref.namespace_name = *ns;
  }
  if (metadata != nullptr) {
    // Filled by the API server before validating admission; absent on the mutating pass.
    if (const json* uid = decision::member(metadata, "uid"); uid && uid->is_string())
      ref.uid = *uid;
  }
  return ref;
}

// Where the API server serves the object: the served kinds' plurals are their lowercase kind + s
// (workflows, coderuns, docsruns). nullopt when the object cannot be named.
std::optional<kube::StoredCheck> stored_check(const admission::Request& request,
                                              const kube::ObjectReference& regarding) {
  if (regarding.name.empty() || regarding.namespace_name.empty() || request.kind.group.empty())
    return std::nullopt;
  std::string plural = request.kind.kind;
  for (char& c : plural) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return kube::StoredCheck{"/apis/" + request.kind.group + "/" + request.kind.version +
                               "/namespaces/" + regarding.namespace_name + "/" + plural + "s/" +
                               regarding.name,
                           regarding.uid};
}

// Exactly "parameter" or "spec": the user wrote the value. "parameter:repoFullName" is an owner
// the webhook filled, derived from the user's repoFullName: listed, as the log's `filled` lists it.
bool set_by_user(const std::string& source) { return source == "parameter" || source == "spec"; }

// "filled owner=Codertocat (event:.repository.owner.login), ref=changes (...)" from the
// annotation the mutating pass wrote, with the values the object now carries.
std::string filled_note(const admission::Request& request,
                        const decision::RunResolution& resolution) {
  const json* metadata = decision::member(&*request.object, "metadata");
  const json* annotation =
      decision::member(decision::member(metadata, "annotations"), decision::kSourcesAnnotation);
  if (annotation == nullptr || !annotation->is_string()) return "";
  json sources;
  try {
    sources = json::parse(annotation->get<std::string>());
  } catch (const json::exception&) {
    return "";
  }
  if (!sources.is_object()) return "";
  std::string note;
  for (const auto& [field, value] : resolution.values) {
    const auto source = sources.find(field);
    if (source == sources.end() || !source->is_string() || set_by_user(*source)) continue;
    note += (note.empty() ? "filled " : ", ") + field + "=" + value.value + " (" +
            source->get<std::string>() + ")";
  }
  return note;
}

}  // namespace

std::vector<kube::EventRecord> events_for(const admission::Request& request,
                                          const decision::Decision& decision,
                                          decision::Phase phase) {
  std::vector<kube::EventRecord> events;
  if (!decision.served || !request.object) return events;
  const kube::ObjectReference regarding = regarding_of(request);
  const bool denied = !decision.response.allowed;
  // An allowed UPDATE reports nothing: Mutated and EventParseFailed tell how a run was admitted,
  // once, at create; repeating them on every spec change would bury them. A refused update is
  // reported by Denied alone, on the stored object (its event cannot change: event-immutable).
  const bool update = request.operation == "UPDATE";
  if (update && !denied) return events;
  const bool final_pass = phase == decision::Phase::kValidate || denied;
  // An allowed object may still not be stored (AlreadyExists, quota, a later webhook): its Events
  // wait for the recorder to find it. A denied one never exists, by design: Denied is posted as is.
  const auto confirm = denied ? std::nullopt : stored_check(request, regarding);
  if (final_pass && !update && decision.resolution.event_problem) {
    events.push_back({regarding, "Warning", "EventParseFailed", "Admit",
                      *decision.resolution.event_problem, confirm});
  }
  // Audit mode: the would-be denial, once per object (the validating pass sees its name), so a
  // team can see what enforce mode would refuse before switching to it.
  if (!denied && phase == decision::Phase::kValidate && decision.access &&
      decision.access->result == "would-deny") {
    events.push_back(
        {regarding, "Warning", "AccessAudit", "Admit", decision.access->message, confirm});
  }
  if (denied) {
    events.push_back({regarding, "Warning", "Denied", "Admit", decision.response.message, {}});
  } else if (phase == decision::Phase::kValidate) {
    if (std::string note = filled_note(request, decision.resolution); !note.empty()) {
      events.push_back({regarding, "Normal", "Mutated", "Admit", std::move(note), confirm});
    }
  }
  return events;
}

}  // namespace coderun::service
