#pragma once
#include <string>
#include <vector>

namespace coderun::cli {

// What a flag takes. Each command declares its flags once (command_specs.cpp); the parser, the
// range checks and --help all read that declaration, so none of them can drift from the others.
enum class FlagKind {
  kSwitch,      // no value
  kText,        // any non-empty value
  kOutputFile,  // a file the command writes later: its directory must exist when it starts
  kInteger,     // decimal digits (an optional leading -), within [min, max]
  kChoice,      // one of `choices`
};

struct Flag {
  std::string name;        // the long name, without "--"
  FlagKind kind = FlagKind::kText;
  std::string value_name;  // FILE, N, ADDR... in --help
  long long min = 0;       // kInteger: the accepted range, both ends included
  long long max = 0;
  std::string range_note;  // kInteger: what a special value means ("0: one per CPU")
  std::vector<std::string> choices;
  char short_name = 0;  // 'f' for -f
};

// One row of --help, and of README's flag table for the command: flags documented together
// (`--addr`, `--port`) share a default column and a description.
struct HelpRow {
  std::vector<std::string> flags;
  std::string default_text;
  std::string help;
};

struct CommandSpec {
  std::string name;
  std::string synopsis;  // after "coderun-webhook "
  std::string summary;
  std::vector<Flag> flags;
  std::vector<HelpRow> rows;

  const Flag* find(const std::string& name) const;
  const Flag* find_short(char name) const;
};

// serve, review, mutate, resolve: the commands that take flags.
const std::vector<CommandSpec>& command_specs();
const CommandSpec* find_command(const std::string& name);

}  // namespace coderun::cli
