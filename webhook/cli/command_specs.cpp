// The flags of every command, with their ranges, defaults and help. README's flag tables are
// checked against the --help printed from here (tests/e2e/test_cli_flags.py).
#include <algorithm>

#include "cli/flag_spec.h"
#include "server/https_server.h"

namespace coderun::cli {
namespace {

constexpr long long kMiB = 1LL << 20;

Flag text(std::string name, std::string value_name, char short_name = 0) {
  Flag flag;
  flag.name = std::move(name);
  flag.value_name = std::move(value_name);
  flag.short_name = short_name;
  return flag;
}

Flag output_file(std::string name) {
  Flag flag = text(std::move(name), "FILE");
  flag.kind = FlagKind::kOutputFile;
  return flag;
}

Flag integer(std::string name, std::string value_name, long long min, long long max,
             std::string range_note = "") {
  Flag flag = text(std::move(name), std::move(value_name));
  flag.kind = FlagKind::kInteger;
  flag.min = min;
  flag.max = max;
  flag.range_note = std::move(range_note);
  return flag;
}

Flag switch_flag(std::string name) {
  Flag flag = text(std::move(name), "");
  flag.kind = FlagKind::kSwitch;
  return flag;
}

Flag choice(std::string name, std::vector<std::string> choices) {
  Flag flag = text(std::move(name), "LEVEL");
  flag.kind = FlagKind::kChoice;
  flag.choices = std::move(choices);
  return flag;
}

const HelpRow kPolicyRow{{"policy"}, "built-in defaults", "the policy file"};
const HelpRow kPromptsDirRow{{"prompts-dir"},
                            "the policy's promptsDir",
                            "where the webhook reads system prompts"};

const HelpRow kClusterStateRow{
    {"cluster-state"},
    "none (clusterChecks off)",
    "Namespaces, ConfigMaps and Secrets (a List, YAML or JSON) standing for the cluster"};

CommandSpec serve() {
  CommandSpec spec;
  spec.name = "serve";
  spec.synopsis = "serve --cert FILE --key FILE [flags]";
  spec.summary = "serves /mutate and /validate over TLS, and /metrics over plain HTTP";
  // Bounds: what a port is; threads past 1024 only add switching (and -1 once wrapped to
  // 2^64-1 and spawned ~29,000 threads); a size of 0 would refuse every request.
  spec.flags = {
      text("cert", "FILE"),
      text("key", "FILE"),
      text("policy", "FILE"),
      text("prompts-dir", "DIR"),
      text("addr", "ADDR"),
      integer("port", "PORT", 0, 65535, "0: any free port"),
      output_file("port-file"),
      text("metrics-addr", "ADDR"),
      integer("metrics-port", "PORT", -1, 65535, "-1: off, 0: any free port"),
      output_file("metrics-port-file"),
      text("kubeconfig", "FILE"),
      integer("threads", "N", 0, 1024, "0: one per usable CPU"),
      integer("max-connections", "N", 1, 1 << 20),
      integer("max-buffered-bytes", "BYTES", 1, 64 * 1024 * kMiB),
      integer("max-body-bytes", "BYTES", 1, 1024 * kMiB),
      integer("read-timeout", "SECONDS", 1, 86400),
      integer("shutdown-delay", "SECONDS", 0, 3600),
      choice("log-level", {"debug", "info", "warn", "error"}),
  };
  spec.rows = {
      {{"cert", "key"}, "(required)", "PEM files, re-read when they change"},
      {{"policy"}, "built-in defaults", "the policy file, re-read when it changes"},
      kPromptsDirRow,
      {{"addr", "port"}, "0.0.0.0, 8443", "the admission port (--port 0: any free port)"},
      {{"port-file"}, "none", "where to write the admission port once bound"},
      {{"metrics-addr", "metrics-port"}, "0.0.0.0, 9090", "plain HTTP /metrics; -1 turns it off"},
      {{"metrics-port-file"}, "none", "where to write the metrics port once bound"},
      {{"kubeconfig"},
       "$KUBECONFIG, else in-cluster",
       "where Events go; without either, none are posted (logged once)"},
      {{"threads"},
       "0: one per usable CPU (affinity and the container's CPU limit), at least 2",
       "event-loop threads; every connection is served by whichever is free"},
      {{"max-connections"},
       std::to_string(server::kDefaultMaxConnections),
       "connections past it are closed at once"},
      {{"max-buffered-bytes"},
       std::to_string(server::kDefaultMaxBufferedBytes / kMiB) + " MiB",
       "request bytes buffered by all connections together; past it, 503 with Retry-After: 1"},
      {{"max-body-bytes"}, "3 MiB", "larger bodies get 413, before they are read"},
      {{"read-timeout"}, "10 s", "a request (head and body) must arrive within it"},
      {{"shutdown-delay"}, "0", "seconds to keep serving after SIGTERM, with readiness off"},
      {{"log-level"}, "info", "debug, info, warn or error; LOG_LEVEL when the flag is absent"},
  };
  return spec;
}

CommandSpec review() {
  CommandSpec spec;
  spec.name = "review";
  spec.synopsis =
      "review -f FILE [--validate] [--policy FILE] [--prompts-dir DIR] [--cluster-state FILE]";
  spec.summary = "prints the AdmissionReview answer the server would give to FILE";
  spec.flags = {text("file", "FILE", 'f'), switch_flag("validate"), text("policy", "FILE"),
                text("prompts-dir", "DIR"), text("cluster-state", "FILE")};
  spec.rows = {{{"file"}, "(required)", "an AdmissionReview v1, JSON or YAML"},
               {{"validate"}, "off", "decide as the validating pass (default: the mutating one)"},
               kPolicyRow,
               kPromptsDirRow,
               kClusterStateRow};
  return spec;
}

CommandSpec mutate() {
  CommandSpec spec;
  spec.name = "mutate";
  spec.synopsis =
      "mutate -f FILE [--event FILE] [--policy FILE] [--prompts-dir DIR] [--cluster-state FILE] "
      "[--json]";
  spec.summary = "prints the object as admission would leave it (the decision on stderr)";
  spec.flags = {text("file", "FILE", 'f'), text("event", "FILE"), text("policy", "FILE"),
                text("prompts-dir", "DIR"), text("cluster-state", "FILE"), switch_flag("json")};
  spec.rows = {
      {{"file"}, "(required)", "a Workflow, CodeRun or DocsRun, JSON or YAML"},
      {{"event"}, "none", "a GitHub event put into the object (the event argument or spec.event)"},
      kPolicyRow,
      kPromptsDirRow,
      kClusterStateRow,
      {{"json"}, "off", "print {decision, object} as one JSON document on stdout"},
  };
  return spec;
}

CommandSpec resolve() {
  CommandSpec spec;
  spec.name = "resolve";
  spec.synopsis = "resolve -f FILE [--event-type TYPE]";
  spec.summary = "prints what a GitHub event yields (owner, repo, ref...) and from where";
  spec.flags = {text("file", "FILE", 'f'), text("event-type", "TYPE")};
  spec.rows = {
      {{"file"}, "(required)", "a GitHub event body, or an Argo Events event around one"},
      {{"event-type"},
       "its X-GitHub-Event, else inferred",
       "the GitHub event type (pull_request, push...)"},
  };
  return spec;
}

CommandSpec policy_test() {
  CommandSpec spec;
  spec.name = "policy";
  spec.synopsis = "policy test DIR --policy FILE [--prompts-dir DIR]";
  spec.summary = "decides the cases in DIR against the policy; exit 1 when one fails";
  spec.flags = {text("policy", "FILE"), text("prompts-dir", "DIR")};
  spec.rows = {{{"policy"}, "(required)", "the policy file under test"},
               {{"prompts-dir"},
                "every prompt exists",
                "check system prompts against this directory too"}};
  return spec;
}

}  // namespace

const Flag* CommandSpec::find(const std::string& name) const {
  const auto it = std::find_if(flags.begin(), flags.end(),
                               [&name](const Flag& flag) { return flag.name == name; });
  return it == flags.end() ? nullptr : &*it;
}

const Flag* CommandSpec::find_short(char name) const {
  const auto it = std::find_if(flags.begin(), flags.end(),
                               [name](const Flag& flag) { return flag.short_name == name; });
  return it == flags.end() ? nullptr : &*it;
}

const std::vector<CommandSpec>& command_specs() {
  static const std::vector<CommandSpec> specs = {serve(), review(), mutate(), resolve(),
                                                policy_test()};
  return specs;
}

const CommandSpec* find_command(const std::string& name) {
  const auto& specs = command_specs();
  const auto it = std::find_if(specs.begin(), specs.end(),
                               [&name](const CommandSpec& spec) { return spec.name == name; });
  return it == specs.end() ? nullptr : &*it;
}

}  // namespace coderun::cli
