#pragma once
#include <string>

#include "cli/flag_spec.h"

namespace coderun::cli {

// `coderun-webhook <command> --help`: every flag with its value, accepted range, default and
// meaning, one row per README table row (a flag line, "default: ...", the description).
std::string command_help(const CommandSpec& spec);

// `coderun-webhook --help`: the commands and where their flags are listed.
std::string general_help();

}  // namespace coderun::cli
