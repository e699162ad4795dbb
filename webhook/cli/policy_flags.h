#pragma once
#include <string>

#include "cli/args.h"
#include "policy/policy.h"

namespace coderun::cli {

// --prompts-dir as an absolute path (messages name it, and the pods see absolute paths).
std::string absolute_dir(const std::string& dir);

// --policy FILE (defaults when absent), then --prompts-dir over it.
policy::Policy policy_from_flags(const Args& args);

}  // namespace coderun::cli
