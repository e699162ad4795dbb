#include "cluster/cluster_state_file.h"

#include <nlohmann/json.hpp>

#include "util/files.h"
#include "util/yaml_json.h"

namespace coderun::cluster {
namespace {

std::string text_at(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

void add_object(const nlohmann::json& object, size_t index, ClusterSnapshot::Facts& facts) {
  const std::string where = "item " + std::to_string(index);
  if (!object.is_object()) throw ClusterStateFileError(where + " is not an object");
  const std::string kind = text_at(object, "kind");
  const auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object() || text_at(*metadata, "name").empty()) {
    throw ClusterStateFileError(where + " (" + kind + ") has no metadata.name");
  }
  const std::string name = text_at(*metadata, "name");
  if (kind == "Namespace") {
    auto& annotations = facts[name].annotations;
    if (const auto found = metadata->find("annotations");
        found != metadata->end() && found->is_object()) {
      for (const auto& [key, value] : found->items()) {
        if (value.is_string()) annotations[key] = value.get<std::string>();
      }
    }
    return;
  }
  std::string namespace_name = text_at(*metadata, "namespace");
  if (namespace_name.empty()) namespace_name = "default";
  if (kind == "ConfigMap") {
    auto& keys = facts[namespace_name].config_map_keys[name];
    for (const char* field : {"data", "binaryData"}) {
      if (const auto data = object.find(field); data != object.end() && data->is_object()) {
        for (const auto& item : data->items()) keys.insert(item.key());
      }
    }
  } else if (kind == "Secret") {
    facts[namespace_name].secrets.insert(name);
  } else {
    throw ClusterStateFileError(where + " is a " + (kind.empty() ? "object without kind" : kind) +
                                ": only Namespace, ConfigMap and Secret stand for the cluster");
  }
}

}  // namespace

std::shared_ptr<const ClusterSnapshot> cluster_state_from_text(std::string_view text) {
  nlohmann::json document;
  try {
    document = util::yaml_to_json(text);
  } catch (const std::exception& e) {
    throw ClusterStateFileError(std::string("not valid YAML or JSON: ") + e.what());
  }
  nlohmann::json items = nlohmann::json::array();
  if (document.is_array()) {
    items = document;
  } else if (document.is_object() && document.contains("items")) {
    items = document["items"];
    if (!items.is_array()) throw ClusterStateFileError("items is not an array");
  } else if (document.is_object()) {
    items.push_back(document);
  } else if (!document.is_null()) {
    throw ClusterStateFileError("expected a List, an array or one object");
  }
  auto facts = std::make_shared<ClusterSnapshot::Facts>();
  for (size_t i = 0; i < items.size(); ++i) add_object(items[i], i, *facts);
  return std::make_shared<const ClusterSnapshot>(std::move(facts), true, true, std::nullopt);
}

std::shared_ptr<const ClusterSnapshot> load_cluster_state_file(const std::string& path) {
  const auto text = util::read_file(path);
  if (!text) throw ClusterStateFileError("cannot read " + path);
  try {
    return cluster_state_from_text(*text);
  } catch (const ClusterStateFileError& e) {
    throw ClusterStateFileError(path + ": " + e.what());
  }
}

}  // namespace coderun::cluster
