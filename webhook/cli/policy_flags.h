#pragma once
#include <string>

#include "cli/args.h"
#include "policy/policy.h"
#include "policy/prompt_catalog.h"

namespace coderun::cli {

// A directory flag as an absolute path (log lines name it).
std::string absolute_dir(const std::string& dir);

// --policy FILE (defaults when absent).
policy::Policy policy_from_flags(const Args& args);

// Where the webhook reads system prompts: --prompts-dir when given (a local copy of
// controller-agents), else the policy's promptsDir. Never changes the path written into objects,
// which is always the policy's promptsDir, where agent pods mount the prompts.
policy::FileSystemPromptCatalog prompts_from_flags(const Args& args);

}  // namespace coderun::cli
