#pragma once
#include <optional>
#include <string>

namespace coderun::util {

// The whole file, or nullopt when it cannot be read.
std::optional<std::string> read_file(const std::string& path);

}  // namespace coderun::util
