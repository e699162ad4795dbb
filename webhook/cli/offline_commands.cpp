// review, mutate and resolve: the same engine as the server, over files, with no cluster.
#include <filesystem>
#include <iostream>

#include "admission/review.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/policy_flags.h"
#include "cluster/cluster_state_file.h"
#include "decision/decide.h"
#include "decision/metadata_mutation.h"
#include "decision/run_inputs.h"
#include "github/event_parser.h"
#include "github/event_resolver.h"
#include "policy/prompt_catalog.h"
#include "util/files.h"
#include "util/json_text.h"
#include "util/yaml_json.h"

namespace coderun::cli {
namespace {

using nlohmann::json;

std::string read_file(const std::string& path) {
  auto text = util::read_file(path);
  if (!text) throw UsageError("cannot read " + path);
  return std::move(*text);
}

// JSON files are parsed as JSON (exact numbers); anything else as YAML.
json read_document(const std::string& path) {
  const std::string text = read_file(path);
  if (path.ends_with(".json")) {
    auto parsed = util::parse_untrusted_json(text, 512);
    if (!parsed.value) throw UsageError(path + " is not valid JSON: " + parsed.error);
    return std::move(*parsed.value);
  }
  return util::yaml_to_json(text);
}

std::string required_file(const Args& args) {
  const auto file = args.get("file");
  if (!file) throw UsageError("-f FILE is required");
  return *file;
}

json sourced_json(const std::optional<github::Sourced>& value) {
  if (!value) return nullptr;
  return {{"value", value->value}, {"source", value->source}};
}

// Puts the event into the object the way a user would: the `event` argument of a Workflow, or
// spec.event of a CodeRun/DocsRun.
void set_event(json& object, const std::string& event_text) {
  if (object.value("kind", "") != "Workflow") {
    auto parsed = util::parse_untrusted_json(event_text, 512);
    if (!parsed.value) throw UsageError("--event is not valid JSON: " + parsed.error);
    object["spec"]["event"] = std::move(*parsed.value);
    return;
  }
  json& parameters = object["spec"]["arguments"]["parameters"];
  if (!parameters.is_array()) parameters = json::array();
  for (auto& parameter : parameters) {
    if (parameter.is_object() && parameter.value("name", "") == "event") {
      parameter["value"] = event_text;
      return;
    }
  }
  parameters.push_back({{"name", "event"}, {"value", event_text}});
}

admission::Request offline_request(const json& object) {
  admission::Request request;
  request.review_api_version = "admission.k8s.io/v1";
  request.uid = "offline";
  request.operation = "CREATE";
  const std::string api_version = object.value("apiVersion", "");
  const auto slash = api_version.find('/');
  request.kind.group = slash == std::string::npos ? "" : api_version.substr(0, slash);
  request.kind.version = slash == std::string::npos ? api_version : api_version.substr(slash + 1);
  request.kind.kind = object.value("kind", "");
  if (const auto metadata = object.find("metadata");
      metadata != object.end() && metadata->is_object()) {
    request.name = metadata->value("name", "");
    request.namespace_name = metadata->value("namespace", "default");
  }
  request.object = object;
  return request;
}

json decision_summary(const decision::Decision& decision) {
  json summary = {{"allowed", decision.response.allowed}, {"outcome", decision.outcome}};
  if (!decision.response.allowed) {
    summary["message"] = decision.response.message;
    summary["rule"] = decision.rule;
  }
  if (decision.served) summary["sources"] = decision::value_sources(decision.resolution);
  if (!decision.response.warnings.empty()) summary["warnings"] = decision.response.warnings;
  return summary;
}

// --cluster-state FILE: the state the decision reads for the request's namespace; without it,
// none (clusterChecks off, as the server without a kube config).
// A state file asks for the checks: without a clusterChecks of its own the policy warns.
std::shared_ptr<const cluster::ClusterSnapshot> cluster_state_from_flags(const Args& args,
                                                                        policy::Policy& policy) {
  const auto path = args.get("cluster-state");
  if (!path) return nullptr;
  if (!policy.cluster_checks) policy.cluster_checks = policy::ClusterChecks::kWarn;
  try {
    return cluster::load_cluster_state_file(*path);
  } catch (const cluster::ClusterStateFileError& e) {
    throw UsageError(std::string("--cluster-state ") + e.what());
  }
}

}  // namespace

int review_command(const std::vector<std::string>& flags) {
  const Args args(*find_command("review"), flags);
  const std::string path = required_file(args);
  const json document = read_document(path);
  // Read as the server reads it (the same keep-list and budget), so the answer is the server's.
  admission::ReviewLimits limits;
  limits.object_fields = &decision::run_object_fields();
  const auto parsed = admission::parse_review(util::dump_json(document), limits);
  if (const auto* error = std::get_if<admission::ReviewError>(&parsed)) {
    throw UsageError(path + " is not a usable AdmissionReview: " + error->message);
  }
  auto policy = policy_from_flags(args);
  const auto prompts = prompts_from_flags(args);
  const auto phase = args.has("validate") ? decision::Phase::kValidate : decision::Phase::kMutate;
  const auto& request = std::get<admission::Request>(parsed);
  const auto cluster = cluster_state_from_flags(args, policy);
  const auto decision = decision::decide(request, policy, prompts, phase, nullptr, cluster.get());
  std::cout << util::dump_json(json::parse(admission::encode_review(decision.response,
                                                                    request.review_api_version)),
                               2)
            << "\n";
  return decision.response.allowed ? kExitOk : kExitDenied;
}

int mutate_command(const std::vector<std::string>& flags) {
  const Args args(*find_command("mutate"), flags);
  json object = read_document(required_file(args));
  if (!object.is_object()) throw UsageError("the file does not hold a Kubernetes object");
  if (const auto event = args.get("event")) set_event(object, read_file(*event));
  auto policy = policy_from_flags(args);
  const auto prompts = prompts_from_flags(args);
  const auto cluster = cluster_state_from_flags(args, policy);
  const auto decision = decision::decide(offline_request(object), policy, prompts,
                                         decision::Phase::kMutate, nullptr, cluster.get());
  if (!decision.response.patch.empty()) object = object.patch(decision.response.patch_operations());
  const json summary = decision_summary(decision);
  if (args.has("json")) {
    std::cout << util::dump_json({{"decision", summary}, {"object", object}}, 2) << "\n";
  } else {
    std::cout << util::dump_json(object, 2) << "\n";
    std::cerr << util::dump_json(summary) << "\n";
  }
  return decision.response.allowed ? kExitOk : kExitDenied;
}

int resolve_command(const std::vector<std::string>& flags) {
  const Args args(*find_command("resolve"), flags);
  const std::string text = read_file(required_file(args));
  const auto parsed = github::parse_event_argument(text, github::EventLimits{16 << 20, 512});
  if (parsed.problem) throw UsageError(*parsed.problem);
  const auto context =
      github::resolve_event(parsed.body, args.get_or("event-type", parsed.event_type));
  const json out = {{"eventType", context.event_type},
                    {"owner", sourced_json(context.owner)},
                    {"repo", sourced_json(context.repo)},
                    {"repoFullName", sourced_json(context.repo_full_name)},
                    {"ref", sourced_json(context.ref)},
                    {"sha", sourced_json(context.sha)},
                    {"prNumber", sourced_json(context.pr_number)},
                    {"issueNumber", sourced_json(context.issue_number)},
                    {"headRepoFullName", sourced_json(context.head_repo_full_name)},
                    {"notes", context.notes}};
  std::cout << util::dump_json(out, 2) << "\n";
  return kExitOk;
}

}  // namespace coderun::cli
