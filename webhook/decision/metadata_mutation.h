#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "decision/json_patch_builder.h"
#include "decision/run_resolution.h"

namespace coderun::decision {

inline constexpr const char* kAppLabel = "taskmaster.io/github-app";
inline constexpr const char* kRepoLabel = "taskmaster.io/repo";
inline constexpr const char* kPrLabel = "taskmaster.io/pr-number";
inline constexpr const char* kSourcesAnnotation = "taskmaster.io/value-sources";

// A label value: at most 63 of [A-Za-z0-9._-], starting and ending alphanumeric. owner/repo
// becomes owner.repo (GitHub owners contain no '.', so the first '.' separates them).
std::string label_safe(std::string_view value);

// {"owner":"event:.repository.owner.login", ...}: where each value came from.
nlohmann::json value_sources(const RunResolution& resolution);

// Labels (app, repo, PR number) and the value-sources annotation, added only where absent: the
// same for Workflows, CodeRuns and DocsRuns.
void add_metadata(JsonPatchBuilder& patch, const nlohmann::json& object,
                  const RunResolution& resolution);

}  // namespace coderun::decision
