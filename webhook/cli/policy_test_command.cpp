// `coderun-webhook policy test DIR --policy FILE`: a directory of cases (an object, who submits
// it, where, and the decision expected) decided offline by the same engine as the server, so a
// policy change that would break a listed case fails in CI before it reaches the cluster.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "admission/review.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/policy_flags.h"
#include "decision/decide.h"
#include "util/files.h"
#include "util/json_text.h"
#include "util/yaml_json.h"

namespace coderun::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// The policy is under test, not the controller-agents ConfigMap: without --prompts-dir every
// system prompt is taken to exist.
class EveryPromptExists final : public policy::PromptCatalog {
 public:
  bool exists(const std::string&, std::string_view) const override { return true; }
};

json read_document(const fs::path& path) {
  const auto text = util::read_file(path.string());
  if (!text) throw UsageError("cannot read " + path.string());
  try {
    return util::yaml_to_json(*text);  // JSON is YAML
  } catch (const std::exception& e) {
    throw UsageError(path.string() + " is not valid YAML or JSON: " + e.what());
  }
}

struct Expectation {
  bool allowed = true;
  std::string message;  // a substring of the denial message or of a warning; empty: any
  std::string access;   // allowed | denied | would-deny; empty: not checked
};

struct Case {
  std::string name;
  std::string origin;  // file (and index) it came from
  json object;
  admission::Request request;
  Expectation expect;
};

std::string string_member(const json& object, const char* key, const std::string& where) {
  const auto it = object.find(key);
  if (it == object.end()) return "";
  if (!it->is_string()) throw UsageError(where + ": " + key + " must be a string");
  return it->get<std::string>();
}

admission::UserInfo user_info_of(const json& in, const std::string& where) {
  admission::UserInfo info;
  if (in.is_null()) return info;
  if (!in.is_object()) throw UsageError(where + ": userInfo must be a mapping");
  for (const auto& [key, value] : in.items()) {
    if (key != "username" && key != "uid" && key != "groups")
      throw UsageError(where + ": userInfo." + key + " is not a known field (username, uid, groups)");
  }
  info.username = string_member(in, "username", where);
  info.uid = string_member(in, "uid", where);
  if (const auto groups = in.find("groups"); groups != in.end()) {
    if (!groups->is_array()) throw UsageError(where + ": userInfo.groups must be a list");
    for (const auto& group : *groups) {
      if (!group.is_string()) throw UsageError(where + ": userInfo.groups holds a non-string");
      info.groups.push_back(group.get<std::string>());
    }
  }
  info.service_account = admission::service_account_of(info.username);
  return info;
}

admission::Request request_for(const json& object, const json& in, const std::string& where) {
  admission::Request request;
  request.review_api_version = "admission.k8s.io/v1";
  request.uid = "policy-test";
  request.operation = string_member(in, "operation", where);
  if (request.operation.empty()) request.operation = "CREATE";
  if (request.operation != "CREATE")
    throw UsageError(where + ": operation must be CREATE (updates are decided as creates)");
  const std::string api_version = object.value("apiVersion", "");
  const auto slash = api_version.find('/');
  request.kind.group = slash == std::string::npos ? "" : api_version.substr(0, slash);
  request.kind.version = slash == std::string::npos ? api_version : api_version.substr(slash + 1);
  request.kind.kind = object.value("kind", "");
  request.namespace_name = string_member(in, "namespace", where);
  if (request.namespace_name.empty()) throw UsageError(where + ": namespace is required");
  request.user_info = user_info_of(in.value("userInfo", json()), where);
  request.object = object;
  return request;
}

Expectation expectation_of(const json& in, const std::string& where) {
  const auto it = in.find("expect");
  if (it == in.end() || !it->is_object()) throw UsageError(where + ": expect is required");
  Expectation expect;
  const auto allowed = it->find("allowed");
  if (allowed == it->end() || !allowed->is_boolean())
    throw UsageError(where + ": expect.allowed (true or false) is required");
  expect.allowed = allowed->get<bool>();
  expect.message = string_member(*it, "message", where);
  expect.access = string_member(*it, "access", where);
  if (!expect.access.empty() && expect.access != "allowed" && expect.access != "denied" &&
      expect.access != "would-deny") {
    throw UsageError(where + ": expect.access must be allowed, denied or would-deny");
  }
  return expect;
}

Case case_of(const json& in, const fs::path& file, const std::string& where) {
  if (!in.is_object()) throw UsageError(where + ": a case must be a mapping");
  static const std::vector<std::string> kKnown = {"name", "namespace", "userInfo", "operation",
                                                  "object", "objectFile", "expect"};
  for (const auto& [key, value] : in.items()) {
    if (std::find(kKnown.begin(), kKnown.end(), key) == kKnown.end())
      throw UsageError(where + ": unknown field " + key);
  }
  Case result;
  result.origin = where;
  result.name = string_member(in, "name", where);
  if (result.name.empty()) result.name = where;
  const bool inline_object = in.contains("object");
  const std::string object_file = string_member(in, "objectFile", where);
  if (inline_object == !object_file.empty())
    throw UsageError(where + ": give exactly one of object and objectFile");
  // objectFile is relative to the case file, so a directory of cases can be moved whole.
  result.object = inline_object ? in.at("object") : read_document(file.parent_path() / object_file);
  if (!result.object.is_object()) throw UsageError(where + ": the object is not a mapping");
  result.request = request_for(result.object, in, where);
  result.expect = expectation_of(in, where);
  return result;
}

std::vector<Case> load_cases(const fs::path& dir) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) throw UsageError(dir.string() + " is not a directory");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    const auto extension = entry.path().extension();
    if (entry.is_regular_file() && (extension == ".yaml" || extension == ".yml"))
      files.push_back(entry.path());
  }
  if (error) throw UsageError("cannot list " + dir.string() + ": " + error.message());
  std::sort(files.begin(), files.end());
  std::vector<Case> cases;
  for (const auto& file : files) {
    const json document = read_document(file);
    const std::string name = file.filename().string();
    // One case per file, or `cases:` holding several.
    if (document.is_object() && document.contains("cases")) {
      const json& list = document.at("cases");
      if (!list.is_array()) throw UsageError(name + ": cases must be a list");
      for (size_t i = 0; i < list.size(); ++i)
        cases.push_back(case_of(list[i], file, name + "#" + std::to_string(i + 1)));
    } else {
      cases.push_back(case_of(document, file, name));
    }
  }
  if (cases.empty()) throw UsageError("no cases (*.yaml) in " + dir.string());
  return cases;
}

// As the API server runs it: the mutating pass, then the validating pass on what it made.
decision::Decision decide_case(const Case& test, const policy::Policy& policy,
                               const policy::PromptCatalog& prompts) {
  auto mutated = decision::decide(test.request, policy, prompts, decision::Phase::kMutate);
  if (!mutated.response.allowed) return mutated;
  admission::Request validating = test.request;
  if (!mutated.response.patch.empty())
    validating.object = test.object.patch(mutated.response.patch_operations());
  auto validated = decision::decide(validating, policy, prompts, decision::Phase::kValidate);
  if (validated.response.allowed) {
    // Warnings are shown from both passes; keep the mutating pass's too.
    validated.response.warnings.insert(validated.response.warnings.begin(),
                                       mutated.response.warnings.begin(),
                                       mutated.response.warnings.end());
  }
  return validated;
}

// Empty when the decision meets the expectation; otherwise what differs, one line each.
std::vector<std::string> differences(const Expectation& expect, const decision::Decision& got) {
  std::vector<std::string> lines;
  const auto& response = got.response;
  if (response.allowed != expect.allowed) {
    lines.push_back(std::string("allowed: expected ") + (expect.allowed ? "true" : "false") +
                    ", got " + (response.allowed ? "true" : "false"));
  }
  if (!expect.message.empty()) {
    const bool in_message = response.message.find(expect.message) != std::string::npos;
    const bool in_warning =
        std::any_of(response.warnings.begin(), response.warnings.end(),
                    [&](const std::string& w) { return w.find(expect.message) != std::string::npos; });
    if (!in_message && !in_warning) {
      lines.push_back("message: expected to contain " + util::dump_json(json(expect.message)) +
                      ", got " + util::dump_json(json(response.message)) +
                      (response.warnings.empty()
                           ? ""
                           : " (warnings " + util::dump_json(json(response.warnings)) + ")"));
    }
  }
  if (!expect.access.empty()) {
    const std::string access = got.access ? got.access->result : "(no access rules ran)";
    if (access != expect.access)
      lines.push_back("access: expected " + expect.access + ", got " + access);
  }
  return lines;
}

}  // namespace

int policy_command(const std::vector<std::string>& words) {
  if (words.empty() || words[0] != "test")
    throw UsageError("expected `policy test DIR --policy FILE`");
  if (words.size() < 2 || words[1].starts_with("-")) throw UsageError("policy test: DIR is required");
  const fs::path dir = words[1];
  const Args args(*find_command("policy"),
                  std::vector<std::string>(words.begin() + 2, words.end()));
  if (!args.get("policy")) throw UsageError("--policy FILE is required");
  const auto policy = policy_from_flags(args);
  const auto cases = load_cases(dir);
  const EveryPromptExists every_prompt;
  const auto on_disk = prompts_from_flags(args);
  const policy::PromptCatalog& prompts =
      args.get("prompts-dir") ? static_cast<const policy::PromptCatalog&>(on_disk) : every_prompt;
  size_t failed = 0;
  for (const auto& test : cases) {
    const auto diff = differences(test.expect, decide_case(test, policy, prompts));
    std::cout << (diff.empty() ? "PASS " : "FAIL ") << test.name;
    if (test.name != test.origin) std::cout << " (" << test.origin << ")";
    std::cout << "\n";
    for (const auto& line : diff) std::cout << "  " << line << "\n";
    if (!diff.empty()) ++failed;
  }
  std::cout << cases.size() - failed << " passed, " << failed << " failed\n";
  return failed == 0 ? kExitOk : kExitDenied;
}

}  // namespace coderun::cli
