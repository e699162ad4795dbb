#include "cli/args.h"

#include <algorithm>

namespace coderun::cli {

Args::Args(const std::vector<std::string>& words, const std::vector<std::string>& switches) {
  for (size_t i = 0; i < words.size(); ++i) {
    std::string word = words[i];
    if (word.rfind("--", 0) == 0) {
      word = word.substr(2);
    } else if (word.size() == 2 && word[0] == '-') {
      word = word.substr(1);
    } else {
      throw UsageError("unexpected argument '" + word + "'");
    }
    if (const auto eq = word.find('='); eq != std::string::npos) {
      values_[word.substr(0, eq)] = word.substr(eq + 1);
    } else if (std::find(switches.begin(), switches.end(), word) != switches.end()) {
      values_[word] = "true";
    } else if (i + 1 < words.size()) {
      values_[word] = words[++i];
    } else {
      throw UsageError("--" + word + " needs a value");
    }
  }
}

std::optional<std::string> Args::get(const std::string& name) const {
  const auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Args::get_or(const std::string& name, const std::string& fallback) const {
  return get(name).value_or(fallback);
}

long Args::get_number(const std::string& name, long fallback) const {
  const auto value = get(name);
  if (!value) return fallback;
  try {
    size_t used = 0;
    const long number = std::stol(*value, &used);
    if (used != value->size()) throw std::invalid_argument(*value);
    return number;
  } catch (const std::exception&) {
    throw UsageError("--" + name + " must be a number, not '" + *value + "'");
  }
}

bool Args::has(const std::string& name) const { return values_.count(name) != 0; }

}  // namespace coderun::cli
