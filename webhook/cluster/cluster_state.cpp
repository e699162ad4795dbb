#include "cluster/cluster_state.h"

#include <algorithm>
#include <stdexcept>

namespace coderun::cluster {
namespace {

const nlohmann::json* member(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string text_of(const nlohmann::json* value) {
  return value != nullptr && value->is_string() ? value->get<std::string>() : "";
}

std::string resource_version_of(const nlohmann::json& object) {
  const auto* metadata = member(object, "metadata");
  return metadata != nullptr ? text_of(member(*metadata, "resourceVersion")) : "";
}

}  // namespace

std::string WatchedQuery::path() const {
  switch (kind) {
    case Kind::kNamespace:
      return "/api/v1/namespaces";
    case Kind::kConfigMap:
      return "/api/v1/configmaps?fieldSelector=metadata.name%3D" + name;
    case Kind::kSecret:
      return "/api/v1/secrets?fieldSelector=metadata.name%3D" + name;
  }
  return "";
}

std::string WatchedQuery::accept(bool watch) const {
  // No plain JSON fallback: a server that cannot answer with metadata answers 406 rather than
  // sending the data.
  if (kind == Kind::kSecret) {
    return watch ? "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
                 : "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
  }
  return "application/json";
}

std::string WatchedQuery::id() const {
  switch (kind) {
    case Kind::kNamespace:
      return "namespaces";
    case Kind::kConfigMap:
      return "configmaps/" + name;
    case Kind::kSecret:
      return "secrets/" + name;
  }
  return "";
}

// A query is synced once listed. Forbidden Secrets count too (the checks then say they could not
// look); forbidden Namespaces or ConfigMaps do not: their absence would deny every run.
bool ClusterState::counts_as_synced(const WatchedQuery& query, const QueryState& state) {
  return state.listed || (state.forbidden && query.kind == Kind::kSecret);
}

ClusterState::ClusterState(std::vector<WatchedQuery> queries) : queries_(std::move(queries)) {
  for (const auto& query : queries_) states_[query.id()];
}

ClusterState::QueryState& ClusterState::state_of(const WatchedQuery& query) {
  const auto it = states_.find(query.id());
  if (it == states_.end()) throw std::logic_error("unregistered query " + query.id());
  return it->second;
}

const ClusterState::QueryState& ClusterState::state_of(const WatchedQuery& query) const {
  const auto it = states_.find(query.id());
  if (it == states_.end()) throw std::logic_error("unregistered query " + query.id());
  return it->second;
}

ClusterState::Stored ClusterState::stored_of(Kind kind, const nlohmann::json& object) {
  Stored stored;
  const auto* metadata = member(object, "metadata");
  if (metadata == nullptr) return stored;
  stored.name = text_of(member(*metadata, "name"));
  stored.namespace_name = text_of(member(*metadata, "namespace"));
  if (kind == Kind::kNamespace) {
    if (const auto* annotations = member(*metadata, "annotations");
        annotations != nullptr && annotations->is_object()) {
      for (const auto& [key, value] : annotations->items()) {
        if (value.is_string()) stored.annotations.emplace(key, value.get<std::string>());
      }
    }
  } else if (kind == Kind::kConfigMap) {
    for (const char* field : {"data", "binaryData"}) {
      if (const auto* data = member(object, field); data != nullptr && data->is_object()) {
        for (const auto& item : data->items()) stored.keys.insert(item.key());
      }
    }
  }
  // Secrets: the name alone (they arrive as PartialObjectMetadata; nothing else is kept anyway).
  return stored;
}

std::string ClusterState::replace(const WatchedQuery& query, const nlohmann::json& list) {
  const auto* items = member(list, "items");
  if (items == nullptr || !(items->is_array() || items->is_null())) {
    throw std::runtime_error("not a list: no items array");
  }
  std::map<std::string, Stored> objects;
  if (items->is_array()) {
    for (const auto& item : *items) {
      Stored stored = stored_of(query.kind, item);
      if (stored.name.empty()) continue;
      objects[stored.namespace_name + "/" + stored.name] = std::move(stored);
    }
  }
  std::lock_guard lock(mutex_);
  QueryState& state = state_of(query);
  state.objects = std::move(objects);
  state.listed = true;
  state.forbidden = false;
  facts_.reset();
  return resource_version_of(list);
}

WatchStep ClusterState::apply(const WatchedQuery& query, std::string_view line,
                              std::string& resource_version, std::string& problem) {
  const auto event = nlohmann::json::parse(line, nullptr, false);
  const auto* type = member(event, "type");
  const auto* object = member(event, "object");
  if (type == nullptr || !type->is_string() || object == nullptr || !object->is_object()) {
    problem = "not a watch event";
    return WatchStep::kFailed;
  }
  const std::string kind = type->get<std::string>();
  if (kind == "ERROR") {
    const auto* code = member(*object, "code");
    problem = text_of(member(*object, "message"));
    if (problem.empty()) problem = "watch error";
    return code != nullptr && code->is_number_integer() && code->get<int>() == 410
               ? WatchStep::kExpired
               : WatchStep::kFailed;
  }
  const std::string version = resource_version_of(*object);
  if (kind == "BOOKMARK") {
    if (!version.empty()) resource_version = version;
    return WatchStep::kBookmark;
  }
  if (kind != "ADDED" && kind != "MODIFIED" && kind != "DELETED") {
    problem = "unknown watch event type " + kind;
    return WatchStep::kFailed;
  }
  Stored stored = stored_of(query.kind, *object);
  if (stored.name.empty()) {
    problem = "watch event without metadata.name";
    return WatchStep::kFailed;
  }
  // A field-selected watch only sends the selected name; anything else is not ours to keep.
  if (query.kind != Kind::kNamespace && stored.name != query.name) {
    problem = "watch event for " + stored.name + " on " + query.id();
    return WatchStep::kFailed;
  }
  {
    std::lock_guard lock(mutex_);
    QueryState& state = state_of(query);
    const std::string key = stored.namespace_name + "/" + stored.name;
    if (kind == "DELETED") {
      state.objects.erase(key);
    } else {
      state.objects[key] = std::move(stored);
    }
    facts_.reset();
  }
  if (!version.empty()) resource_version = version;
  return WatchStep::kApplied;
}

void ClusterState::set_forbidden(const WatchedQuery& query) {
  std::lock_guard lock(mutex_);
  QueryState& state = state_of(query);
  state.forbidden = true;
  state.listed = false;  // what it held can no longer be kept up to date
  state.objects.clear();
  facts_.reset();
}

void ClusterState::set_broken(const WatchedQuery& query,
                              std::chrono::steady_clock::time_point since) {
  std::lock_guard lock(mutex_);
  QueryState& state = state_of(query);
  if (!state.broken_since) state.broken_since = since;
}

void ClusterState::set_live(const WatchedQuery& query) {
  std::lock_guard lock(mutex_);
  state_of(query).broken_since.reset();
}

bool ClusterState::synced() const {
  std::lock_guard lock(mutex_);
  return std::all_of(queries_.begin(), queries_.end(), [this](const WatchedQuery& query) {
    return counts_as_synced(query, states_.at(query.id()));
  });
}

size_t ClusterState::objects() const {
  std::lock_guard lock(mutex_);
  size_t count = 0;
  for (const auto& [id, state] : states_) count += state.objects.size();
  return count;
}

std::chrono::seconds ClusterState::age(std::chrono::steady_clock::time_point now) const {
  std::lock_guard lock(mutex_);
  std::chrono::seconds oldest{0};
  for (const auto& [id, state] : states_) {
    if (state.broken_since) {
      oldest = std::max(oldest,
                        std::chrono::duration_cast<std::chrono::seconds>(now - *state.broken_since));
    }
  }
  return oldest;
}

std::shared_ptr<const ClusterSnapshot> ClusterState::snapshot(
    std::chrono::steady_clock::time_point now) const {
  const auto stale = age(now);
  std::lock_guard lock(mutex_);
  if (!facts_) {
    auto facts = std::make_shared<ClusterSnapshot::Facts>();
    for (const auto& query : queries_) {
      for (const auto& [key, stored] : states_.at(query.id()).objects) {
        switch (query.kind) {
          case Kind::kNamespace:
            (*facts)[stored.name].annotations = stored.annotations;
            break;
          case Kind::kConfigMap:
            (*facts)[stored.namespace_name].config_map_keys[stored.name] = stored.keys;
            break;
          case Kind::kSecret:
            (*facts)[stored.namespace_name].secrets.insert(stored.name);
            break;
        }
      }
    }
    facts_ = std::move(facts);
  }
  bool synced = true;
  bool secrets_known = true;
  for (const auto& query : queries_) {
    const QueryState& state = states_.at(query.id());
    synced = synced && counts_as_synced(query, state);
    if (query.kind == Kind::kSecret) secrets_known = secrets_known && state.listed && !state.forbidden;
  }
  return std::make_shared<const ClusterSnapshot>(
      facts_, synced, secrets_known,
      stale >= kStaleAfter ? std::optional<std::chrono::seconds>(stale) : std::nullopt);
}

}  // namespace coderun::cluster
