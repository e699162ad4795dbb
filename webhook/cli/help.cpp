#include "cli/help.h"

#include "cli/args.h"

namespace coderun::cli {
namespace {

constexpr const char* kExitCodes =
    "Exit codes: 0 allowed, 1 denied (review, mutate) or a case failed (policy test), 2 usage or\n"
    "input error.\n";

std::string flag_words(const Flag& flag) {
  std::string words;
  if (flag.short_name != 0) words += std::string("-") + flag.short_name + ", ";
  words += "--" + flag.name;
  if (flag.kind == FlagKind::kSwitch) return words;
  if (flag.kind == FlagKind::kChoice) {
    std::string choices;
    for (const auto& choice : flag.choices) choices += (choices.empty() ? "" : "|") + choice;
    return words + " " + choices;
  }
  words += " " + flag.value_name;
  if (flag.kind == FlagKind::kInteger) {
    words += " (" + std::to_string(flag.min) + ".." + std::to_string(flag.max) +
             (flag.range_note.empty() ? "" : "; " + flag.range_note) + ")";
  }
  return words;
}

}  // namespace

std::string command_help(const CommandSpec& spec) {
  std::string text = "coderun-webhook " + spec.name + ": " + spec.summary + "\n\n" +
                     "Usage: coderun-webhook " + spec.synopsis + "\n\nFlags:\n";
  for (const auto& row : spec.rows) {
    std::string line;
    for (const auto& name : row.flags) {
      const Flag* flag = spec.find(name);
      line += (line.empty() ? "" : ", ") + (flag ? flag_words(*flag) : "--" + name);
    }
    text += "  " + line + "\n      default: " + row.default_text + "\n      " + row.help + "\n";
  }
  text += "  --help, --version\n      this text; the version\n\n";
  return text + kExitCodes;
}

std::string general_help() {
  std::string text =
      "coderun-webhook: admission webhook for Argo Workflows, CodeRuns and DocsRuns\n\nUsage:\n";
  for (const auto& spec : command_specs()) {
    text += "  coderun-webhook " + spec.synopsis + "\n      " + spec.summary + "\n";
  }
  text +=
      "  coderun-webhook version\n\n"
      "`coderun-webhook <command> --help` lists a command's flags, ranges and defaults.\n";
  return text + kExitCodes;
}

}  // namespace coderun::cli
