#include "github/event_resolver.h"

#include <initializer_list>
#include <string>

namespace coderun::github {
namespace {

using nlohmann::json;
using Path = std::initializer_list<std::string_view>;

std::string path_text(Path path) {
  std::string text;
  for (const auto key : path) {
    text += '.';
    text += key;
  }
  return text;
}

const json* find(const json& root, Path path) {
  const json* node = &root;
  for (const auto key : path) {
    if (!node->is_object()) return nullptr;
    const auto it = node->find(key);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node;
}

bool present(const json& root, Path path) {
  const json* node = find(root, path);
  return node != nullptr && !node->is_null();
}

// Reads values of the expected JSON type only; anything else is noted and ignored, so that a
// number where a name belongs (or an object where a number belongs) never reaches a Workflow.
class Reader {
 public:
  Reader(const json& root, std::vector<std::string>& notes) : root_(root), notes_(notes) {}

  std::optional<Sourced> string(Path path) const {
    const json* node = find(root_, path);
    if (node == nullptr || node->is_null()) return std::nullopt;
    if (!node->is_string()) {
      notes_.push_back(path_text(path) + " ignored: a " + node->type_name() + ", not a string");
      return std::nullopt;
    }
    const auto& text = node->get_ref<const std::string&>();
    if (text.empty()) return std::nullopt;
    return Sourced{text, path_text(path)};
  }

  std::optional<Sourced> number(Path path) const {
    const json* node = find(root_, path);
    if (node == nullptr || node->is_null()) return std::nullopt;
    if (!node->is_number_unsigned() && !(node->is_number_integer() && node->get<long long>() > 0)) {
      notes_.push_back(path_text(path) + " ignored: not a positive integer");
      return std::nullopt;
    }
    return Sourced{std::to_string(node->get<unsigned long long>()), path_text(path)};
  }

  // .<list>[0].number for the pull_requests arrays of workflow_run, check_run and check_suite.
  std::optional<Sourced> first_pull_request_number(std::string_view object) const {
    const json* list = find(root_, {object, "pull_requests"});
    if (list == nullptr || !list->is_array() || list->empty()) return std::nullopt;
    const json& first = list->front();
    const json* number = first.is_object() ? find(first, {"number"}) : nullptr;
    if (number == nullptr || !number->is_number_unsigned()) return std::nullopt;
    return Sourced{std::to_string(number->get<unsigned long long>()),
                   "." + std::string(object) + ".pull_requests[0].number"};
  }

  const json& root() const { return root_; }

 private:
  const json& root_;
  std::vector<std::string>& notes_;
};

// The first of these paths that holds a string. Later paths are read only when the earlier ones
// gave nothing, so a wrong-typed fallback is not noted when an earlier source answered.
std::optional<Sourced> first_string(const Reader& r, std::initializer_list<Path> paths) {
  for (const Path path : paths) {
    if (auto value = r.string(path)) return value;
  }
  return std::nullopt;
}

bool is_zero_sha(const std::string& sha) {
  return !sha.empty() && sha.find_first_not_of('0') == std::string::npos;
}

Sourced pull_ref(const Sourced& number) {
  return {"refs/pull/" + number.value + "/head", "refs/pull/{" + number.source + "}/head"};
}

std::optional<Sourced> resolve_owner(const Reader& r) {
  return first_string(r, {{"repository", "owner", "login"},
                          {"repository", "owner", "name"},
                          {"organization", "login"}});
}

std::optional<Sourced> resolve_sha(const Reader& r, EventContext& context) {
  auto after = r.string({"after"});
  if (after && is_zero_sha(after->value)) {
    context.notes.push_back("sha: .after is all zeros (the ref was deleted); ignored");
    after.reset();
  }
  if (auto sha = r.string({"pull_request", "head", "sha"})) return sha;
  if (after) return after;
  return first_string(r, {{"workflow_run", "head_sha"},
                          {"check_run", "head_sha"},
                          {"check_suite", "head_sha"},
                          {"merge_group", "head_sha"}});
}

std::optional<Sourced> resolve_pr_number(const Reader& r) {
  if (auto number = r.number({"pull_request", "number"})) return number;
  if (present(r.root(), {"issue", "pull_request"})) {
    if (auto number = r.number({"issue", "number"})) {
      number->source += " (.issue.pull_request is set)";
      return number;
    }
  }
  for (const char* object : {"workflow_run", "check_run", "check_suite"}) {
    if (auto number = r.first_pull_request_number(object)) return number;
  }
  return std::nullopt;
}

// The head of a pull request from another repository is not a branch of the base repository;
// GitHub keeps refs/pull/N/head in the base repository for every pull request.
std::optional<Sourced> resolve_pull_request_ref(const Reader& r, EventContext& context) {
  const auto number = r.number({"pull_request", "number"});
  const auto head_ref = r.string({"pull_request", "head", "ref"});
  const auto head_repo = r.string({"pull_request", "head", "repo", "full_name"});
  const auto base_repo =
      first_string(r, {{"pull_request", "base", "repo", "full_name"}, {"repository", "full_name"}});
  const bool from_fork =
      number && base_repo && (!head_repo || head_repo->value != base_repo->value);
  if (!from_fork) return head_ref;
  context.head_repo_full_name = head_repo;
  context.notes.push_back("ref: pull request head " +
                          (head_repo ? head_repo->value : std::string("(deleted repository)")) +
                          (head_ref ? ":" + head_ref->value : std::string()) + " is not in " +
                          base_repo->value + "; using refs/pull/" + number->value + "/head");
  return pull_ref(*number);
}

std::optional<Sourced> resolve_ref(const Reader& r, EventContext& context) {
  if (present(r.root(), {"pull_request"})) {
    if (auto ref = resolve_pull_request_ref(r, context)) return ref;
  }
  if (present(r.root(), {"issue", "pull_request"})) {
    // A comment on a pull request carries no branch; the PR's head ref always exists.
    if (auto number = r.number({"issue", "number"})) return pull_ref(*number);
  }
  if (auto ref = r.string({"ref"})) {
    const json* deleted_flag = find(r.root(), {"deleted"});
    const bool deleted =
        context.event_type == "delete" || (deleted_flag != nullptr && *deleted_flag == true);
    if (deleted) {
      context.notes.push_back("ref: " + ref->value + " was deleted by this event; ignored");
    } else {
      const std::string normalized = normalize_ref(ref->value);
      if (normalized != ref->value) {
        context.notes.push_back("ref: " + ref->value + " normalized to " + normalized);
      }
      return Sourced{normalized, ref->source};
    }
  }
  if (present(r.root(), {"workflow_run"})) {
    const auto head_repo = r.string({"workflow_run", "head_repository", "full_name"});
    const auto base_repo = r.string({"repository", "full_name"});
    const auto number = r.first_pull_request_number("workflow_run");
    if (number && head_repo && base_repo && head_repo->value != base_repo->value) {
      context.head_repo_full_name = head_repo;
      context.notes.push_back("ref: workflow run head is in " + head_repo->value +
                              "; using refs/pull/" + number->value + "/head");
      return pull_ref(*number);
    }
    if (auto branch = r.string({"workflow_run", "head_branch"})) return branch;
  }
  if (present(r.root(), {"check_run"})) {
    if (auto branch = r.string({"check_run", "check_suite", "head_branch"})) return branch;
    if (auto number = r.first_pull_request_number("check_run")) return pull_ref(*number);
  }
  if (auto branch = r.string({"check_suite", "head_branch"})) return branch;
  if (auto head = r.string({"merge_group", "head_ref"})) {
    return Sourced{normalize_ref(head->value), head->source};
  }
  if (auto tag = r.string({"release", "tag_name"})) return tag;
  if (auto branch = r.string({"repository", "default_branch"})) {
    context.notes.push_back("ref: the event names no ref; using the repository's default branch");
    return branch;
  }
  return std::nullopt;
}

}  // namespace

const util::JsonKeep& event_fields() {
  using Keep = util::JsonKeep;
  using Mode = Keep::Mode;
  static const Keep all;
  static const Keep presence{Mode::kPresence, {}};
  static const Keep full_name{Mode::kMembers, {{"full_name", &all}}};
  static const Keep number{Mode::kMembers, {{"number", &all}}};
  static const Keep owner{Mode::kMembers, {{"login", &all}, {"name", &all}}};
  static const Keep repository{
      Mode::kMembers,
      {{"owner", &owner}, {"name", &all}, {"full_name", &all}, {"default_branch", &all}}};
  static const Keep login{Mode::kMembers, {{"login", &all}}};
  static const Keep head{Mode::kMembers, {{"ref", &all}, {"sha", &all}, {"repo", &full_name}}};
  static const Keep base{Mode::kMembers, {{"repo", &full_name}}};
  static const Keep pull_request{Mode::kMembers,
                                 {{"number", &all}, {"head", &head}, {"base", &base}}};
  static const Keep issue{Mode::kMembers, {{"number", &all}, {"pull_request", &presence}}};
  static const Keep workflow_run{Mode::kMembers,
                                 {{"head_branch", &all},
                                  {"head_sha", &all},
                                  {"head_repository", &full_name},
                                  {"pull_requests", &number}}};
  static const Keep check_suite_of_run{Mode::kMembers, {{"head_branch", &all}}};
  static const Keep check_run{
      Mode::kMembers,
      {{"head_sha", &all}, {"check_suite", &check_suite_of_run}, {"pull_requests", &number}}};
  static const Keep check_suite{
      Mode::kMembers, {{"head_branch", &all}, {"head_sha", &all}, {"pull_requests", &number}}};
  static const Keep merge_group{Mode::kMembers, {{"head_ref", &all}, {"head_sha", &all}}};
  static const Keep release{Mode::kMembers, {{"tag_name", &all}}};
  // The root also serves as the body of an Argo Events envelope.
  static Keep root{Mode::kMembers,
                   {{"repository", &repository},
                    {"organization", &login},
                    {"pull_request", &pull_request},
                    {"issue", &issue},
                    {"ref", &all},
                    {"after", &all},
                    {"deleted", &all},
                    {"ref_type", &all},
                    {"master_branch", &presence},
                    {"description", &presence},
                    {"zen", &presence},
                    {"review", &presence},
                    {"comment", &presence},
                    {"commits", &presence},
                    {"workflow_run", &workflow_run},
                    {"check_run", &check_run},
                    {"check_suite", &check_suite},
                    {"merge_group", &merge_group},
                    {"release", &release},
                    {"headers", &all},
                    {"header", &all}}};
  static const bool envelope_body = (root.members.emplace("body", &root), true);
  (void)envelope_body;
  return root;
}

std::string normalize_ref(std::string_view ref) {
  for (const std::string_view prefix : {"refs/heads/", "refs/tags/"}) {
    if (ref.starts_with(prefix) && ref.size() > prefix.size()) {
      return std::string(ref.substr(prefix.size()));
    }
  }
  return std::string(ref);
}

std::string infer_event_type(const json& body) {
  if (!body.is_object()) return "";
  const auto has = [&](const char* key) { return present(body, {key}); };
  if (has("pull_request")) return has("review") ? "pull_request_review" : "pull_request";
  if (has("issue")) return has("comment") ? "issue_comment" : "issues";
  for (const char* type : {"workflow_run", "check_run", "check_suite", "merge_group", "release"}) {
    if (has(type)) return type;
  }
  if (has("zen")) return "ping";
  if (has("ref_type")) return has("master_branch") || has("description") ? "create" : "delete";
  if (has("ref") && (has("after") || has("commits"))) return "push";
  return "";
}

EventContext resolve_event(const json& body, std::string_view event_type) {
  EventContext context;
  if (!body.is_object()) return context;
  context.event_type = event_type.empty() ? infer_event_type(body) : std::string(event_type);
  const Reader r(body, context.notes);
  context.owner = resolve_owner(r);
  context.repo = r.string({"repository", "name"});
  context.repo_full_name = r.string({"repository", "full_name"});
  if (!context.repo_full_name && context.owner && context.repo) {
    context.repo_full_name = Sourced{context.owner->value + "/" + context.repo->value,
                                     context.owner->source + "/" + context.repo->source};
  }
  context.ref = resolve_ref(r, context);
  context.sha = resolve_sha(r, context);
  context.pr_number = resolve_pr_number(r);
  context.issue_number = r.number({"issue", "number"});
  return context;
}

}  // namespace coderun::github
