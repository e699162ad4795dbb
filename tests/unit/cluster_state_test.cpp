// The cluster-state cache against a recorded list + watch stream, as the API server sends them
// (kube-apiserver v1.20: one JSON event per line; Secrets as PartialObjectMetadata).
#include <catch2/catch.hpp>

#include "cluster/cluster_state.h"
#include "cluster/cluster_state_file.h"

using coderun::cluster::ClusterState;
using coderun::cluster::Kind;
using coderun::cluster::WatchedQuery;
using coderun::cluster::WatchStep;
using nlohmann::json;

namespace {

const WatchedQuery kNamespaces{Kind::kNamespace, ""};
const WatchedQuery kAgents{Kind::kConfigMap, "controller-agents"};
const WatchedQuery kRexSecret{Kind::kSecret, "github-app-rex"};

ClusterState make_state() { return ClusterState({kNamespaces, kAgents, kRexSecret}); }

json config_map(const std::string& ns, const std::string& rv, json data) {
  return {{"kind", "ConfigMap"},
          {"metadata", {{"name", "controller-agents"}, {"namespace", ns}, {"resourceVersion", rv}}},
          {"data", std::move(data)}};
}

json list_of(json items, const std::string& rv) {
  return {{"kind", "List"}, {"metadata", {{"resourceVersion", rv}}}, {"items", std::move(items)}};
}

std::string line(const std::string& type, const json& object) {
  return json{{"type", type}, {"object", object}}.dump();
}

WatchStep feed(ClusterState& state, const WatchedQuery& query, const std::string& text,
               std::string& version) {
  std::string problem;
  return state.apply(query, text, version, problem);
}

std::set<std::string, std::less<>> agent_keys(const ClusterState& state, const std::string& ns) {
  const auto snapshot = state.snapshot();
  const auto* facts = snapshot->find(ns);
  if (facts == nullptr) return {};
  const auto it = facts->config_map_keys.find("controller-agents");
  return it == facts->config_map_keys.end() ? std::set<std::string, std::less<>>{} : it->second;
}

void list_all_empty(ClusterState& state) {
  state.replace(kNamespaces, list_of(json::array(), "1"));
  state.replace(kAgents, list_of(json::array(), "1"));
  state.replace(kRexSecret, list_of(json::array(), "1"));
}

}  // namespace

TEST_CASE("cluster state: the queries select by name, Secrets as metadata only") {
  CHECK(kAgents.path() == "/api/v1/configmaps?fieldSelector=metadata.name%3Dcontroller-agents");
  CHECK(kRexSecret.path() == "/api/v1/secrets?fieldSelector=metadata.name%3Dgithub-app-rex");
  CHECK(kNamespaces.path() == "/api/v1/namespaces");
  CHECK(kRexSecret.accept() == "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1");
  // The watch asks for the object form: v1.20 sends no event to a watch asking for the List form.
  CHECK(kRexSecret.accept(true) == "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1");
}

TEST_CASE("cluster state: not synced until every query has listed once") {
  auto state = make_state();
  CHECK_FALSE(state.snapshot()->synced());
  state.replace(kNamespaces, list_of(json::array(), "1"));
  state.replace(kAgents, list_of(json::array(), "1"));
  CHECK_FALSE(state.snapshot()->synced());
  state.replace(kRexSecret, list_of(json::array(), "1"));
  CHECK(state.snapshot()->synced());
  CHECK(state.snapshot()->secrets_known());
}

TEST_CASE("cluster state: a recorded watch stream of ADDED, MODIFIED, BOOKMARK, DELETED") {
  auto state = make_state();
  list_all_empty(state);
  std::string version =
      state.replace(kAgents, list_of(json::array({config_map("team-a", "10", {{"x", "1"}})}), "10"));
  CHECK(version == "10");
  CHECK(agent_keys(state, "team-a") == std::set<std::string, std::less<>>{"x"});

  const auto before = state.snapshot();
  CHECK(feed(state, kAgents,
             line("MODIFIED", config_map("team-a", "11", {{"x", "1"}, {"rex_system-prompt.md", "p"}})),
             version) == WatchStep::kApplied);
  CHECK(version == "11");
  CHECK(agent_keys(state, "team-a").contains("rex_system-prompt.md"));
  // A snapshot taken before is immutable: a decision in flight keeps its view.
  CHECK_FALSE(before->find("team-a")->config_map_keys.at("controller-agents").contains(
      "rex_system-prompt.md"));

  CHECK(feed(state, kAgents,
             line("BOOKMARK", {{"kind", "ConfigMap"}, {"metadata", {{"resourceVersion", "15"}}}}),
             version) == WatchStep::kBookmark);
  CHECK(version == "15");
  CHECK(feed(state, kAgents, line("ADDED", config_map("team-b", "16", json::object())), version) ==
        WatchStep::kApplied);
  CHECK(state.snapshot()->find("team-b") != nullptr);
  CHECK(feed(state, kAgents, line("DELETED", config_map("team-a", "17", json::object())),
             version) == WatchStep::kApplied);
  CHECK(agent_keys(state, "team-a").empty());
  CHECK(state.snapshot()->find("team-a") == nullptr);
  CHECK(version == "17");
  CHECK(state.objects() == 1);
}

TEST_CASE("cluster state: ERROR 410 Gone asks for a relist, which replaces everything") {
  auto state = make_state();
  list_all_empty(state);
  std::string version = state.replace(
      kAgents, list_of(json::array({config_map("team-a", "5", {{"x", "1"}}),
                                    config_map("team-b", "6", {{"y", "1"}})}),
                       "6"));
  std::string problem;
  const json gone = {{"kind", "Status"},
                     {"apiVersion", "v1"},
                     {"status", "Failure"},
                     {"message", "too old resource version: 6 (80)"},
                     {"reason", "Expired"},
                     {"code", 410}};
  CHECK(state.apply(kAgents, line("ERROR", gone), version, problem) == WatchStep::kExpired);
  CHECK(problem == "too old resource version: 6 (80)");
  CHECK(version == "6");  // unchanged: the watcher clears it and lists
  // team-b was deleted while no watch ran: the relist forgets it.
  version = state.replace(kAgents, list_of(json::array({config_map("team-a", "81", {{"z", "1"}})}), "81"));
  CHECK(version == "81");
  CHECK(agent_keys(state, "team-a") == std::set<std::string, std::less<>>{"z"});
  CHECK(state.snapshot()->find("team-b") == nullptr);
}

TEST_CASE("cluster state: other ERRORs and garbage end the watch without touching the state") {
  auto state = make_state();
  list_all_empty(state);
  std::string version = "3";
  std::string problem;
  CHECK(state.apply(kAgents, line("ERROR", {{"kind", "Status"}, {"code", 500}, {"message", "boom"}}),
                    version, problem) == WatchStep::kFailed);
  CHECK(state.apply(kAgents, "{not json", version, problem) == WatchStep::kFailed);
  CHECK(state.apply(kAgents, line("ADDED", {{"metadata", {{"name", "other"}, {"namespace", "a"}}}}),
                    version, problem) == WatchStep::kFailed);
  CHECK(version == "3");
  CHECK(state.objects() == 0);
}

TEST_CASE("cluster state: Secrets by name from PartialObjectMetadata, never their data") {
  auto state = make_state();
  list_all_empty(state);
  std::string version = state.replace(
      kRexSecret,
      json::parse(R"({"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1",
        "metadata":{"resourceVersion":"40"},
        "items":[{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1",
                  "metadata":{"name":"github-app-rex","namespace":"team-a","resourceVersion":"39"}}]})"));
  CHECK(version == "40");
  CHECK(state.snapshot()->find("team-a")->secrets.contains("github-app-rex"));
  const json deleted = {{"kind", "PartialObjectMetadata"},
                        {"metadata", {{"name", "github-app-rex"}, {"namespace", "team-a"},
                                      {"resourceVersion", "41"}}}};
  CHECK(feed(state, kRexSecret, line("DELETED", deleted), version) == WatchStep::kApplied);
  CHECK(state.snapshot()->find("team-a") == nullptr);
}

TEST_CASE("cluster state: namespaces carry their annotations") {
  auto state = make_state();
  list_all_empty(state);
  std::string version = "1";
  const json ns = {{"kind", "Namespace"},
                   {"metadata",
                    {{"name", "team-a"},
                     {"resourceVersion", "2"},
                     {"annotations", {{"taskmaster.io/repo", "acme/app"}, {"taskmaster.io/ref", "dev"}}}}}};
  CHECK(feed(state, kNamespaces, line("ADDED", ns), version) == WatchStep::kApplied);
  CHECK(state.snapshot()->find("team-a")->annotations.at("taskmaster.io/repo") == "acme/app");
}

TEST_CASE("cluster state: forbidden Secrets are synced but unknown; broken watches age") {
  auto state = make_state();
  state.replace(kNamespaces, list_of(json::array(), "1"));
  state.replace(kAgents, list_of(json::array(), "1"));
  state.set_forbidden(kRexSecret);
  CHECK(state.snapshot()->synced());
  CHECK_FALSE(state.snapshot()->secrets_known());

  const auto now = std::chrono::steady_clock::now();
  state.set_broken(kAgents, now - std::chrono::seconds(2));
  CHECK_FALSE(state.snapshot(now)->stale_for());  // a restart, not yet stale
  CHECK(state.snapshot(now + std::chrono::seconds(10))->stale_for() == std::chrono::seconds(12));
  CHECK(state.age(now + std::chrono::seconds(10)) == std::chrono::seconds(12));
  state.set_live(kAgents);
  CHECK_FALSE(state.snapshot(now + std::chrono::seconds(10))->stale_for());

  // Forbidden ConfigMaps are not a sync: their absence would deny every run.
  state.set_forbidden(kAgents);
  CHECK_FALSE(state.synced());
  CHECK_FALSE(state.snapshot()->synced());
}

TEST_CASE("cluster state file: a List of Namespaces, ConfigMaps and Secrets") {
  const auto snapshot = coderun::cluster::cluster_state_from_text(R"(
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Namespace, metadata: {name: team-a, annotations: {taskmaster.io/repo: acme/app}}}
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: controller-agents, namespace: team-a}, data: {rex_system-prompt.md: hi}}
  - {apiVersion: v1, kind: Secret, metadata: {name: github-app-rex, namespace: team-a}, data: {privateKey: c2VjcmV0}}
)");
  const auto* facts = snapshot->find("team-a");
  REQUIRE(facts != nullptr);
  CHECK(facts->annotations.at("taskmaster.io/repo") == "acme/app");
  CHECK(facts->config_map_keys.at("controller-agents").contains("rex_system-prompt.md"));
  CHECK(facts->secrets.contains("github-app-rex"));
  CHECK_THROWS_WITH(coderun::cluster::cluster_state_from_text("[{kind: Pod, metadata: {name: p}}]"),
                    Catch::Contains("only Namespace, ConfigMap and Secret"));
}
