#include "cli/args.h"

#include <algorithm>
#include <charconv>
#include <filesystem>

namespace coderun::cli {
namespace {

std::string joined(const std::vector<std::string>& words, const std::string& separator) {
  std::string out;
  for (const auto& word : words) out += (out.empty() ? "" : separator) + word;
  return out;
}

// Refuses what the flag does not accept, with the flag's name and what it does accept.
void check_value(const Flag& flag, const std::string& value) {
  const std::string name = "--" + flag.name;
  if (value.empty()) throw UsageError(name + " needs a value: " + accepted_values(flag));
  switch (flag.kind) {
    case FlagKind::kInteger: {
      const auto number = parse_integer(value);
      if (!number || *number < flag.min || *number > flag.max) {
        throw UsageError(name + " must be " + accepted_values(flag) + ", not '" + value + "'");
      }
      break;
    }
    case FlagKind::kChoice:
      if (std::find(flag.choices.begin(), flag.choices.end(), value) == flag.choices.end()) {
        throw UsageError(name + " must be " + accepted_values(flag) + ", not '" + value + "'");
      }
      break;
    case FlagKind::kOutputFile: {
      // Written only once the server is listening: a missing directory found then would leave
      // whoever waits for the file waiting, so it is refused before anything starts.
      namespace fs = std::filesystem;
      const fs::path parent = fs::absolute(value).parent_path();
      std::error_code error;
      if (!fs::is_directory(parent, error)) {
        throw UsageError(name + " " + value + ": directory " + parent.string() +
                         " does not exist");
      }
      if (fs::is_directory(value, error)) {
        throw UsageError(name + " " + value + " is a directory; it names the file to write");
      }
      break;
    }
    case FlagKind::kSwitch:
    case FlagKind::kText:
      break;
  }
}

}  // namespace

std::optional<long long> parse_integer(const std::string& text) {
  long long number = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, number, 10);
  if (error != std::errc() || stop != end || text.empty()) return std::nullopt;
  return number;
}

std::string accepted_values(const Flag& flag) {
  switch (flag.kind) {
    case FlagKind::kInteger:
      return "an integer from " + std::to_string(flag.min) + " to " + std::to_string(flag.max) +
             (flag.range_note.empty() ? "" : " (" + flag.range_note + ")");
    case FlagKind::kChoice:
      return "one of " + joined(flag.choices, ", ");
    case FlagKind::kOutputFile:
      return "a file in an existing directory";
    case FlagKind::kSwitch:
      return "no value";
    case FlagKind::kText:
      break;
  }
  return "a " + (flag.value_name.empty() ? std::string("value") : flag.value_name);
}

Args::Args(const CommandSpec& spec, const std::vector<std::string>& words) : spec_(spec) {
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    std::string name;
    std::optional<std::string> inline_value;
    const Flag* flag = nullptr;
    if (word.size() > 2 && word.starts_with("--")) {
      name = word.substr(2);
      if (const auto eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name.resize(eq);
      }
      flag = spec.find(name);
    } else if (word.size() == 2 && word[0] == '-' && word[1] != '-') {
      flag = spec.find_short(word[1]);
      name = flag != nullptr ? flag->name : word.substr(1);
    } else {
      throw UsageError("unexpected argument '" + word + "' (flags start with --; " +
                       "`coderun-webhook " + spec.name + " --help` lists them)");
    }
    if (flag == nullptr) {
      throw UsageError("unknown flag " + word.substr(0, word.find('=')) + " (`coderun-webhook " +
                       spec.name + " --help` lists the flags)");
    }
    if (values_.count(flag->name) != 0) {
      throw UsageError("--" + flag->name + " is given more than once");
    }
    if (flag->kind == FlagKind::kSwitch) {
      if (inline_value) throw UsageError("--" + flag->name + " takes no value");
      values_[flag->name] = "true";
      continue;
    }
    if (!inline_value) {
      // "--policy --port 1": the next word is a flag, so --policy was given no value.
      if (i + 1 >= words.size() || words[i + 1].starts_with("--")) {
        throw UsageError("--" + flag->name + " needs a value: " + accepted_values(*flag));
      }
      inline_value = words[++i];
    }
    check_value(*flag, *inline_value);
    values_[flag->name] = *inline_value;
  }
}

const Flag& Args::declared(const std::string& name) const {
  const Flag* flag = spec_.find(name);
  if (flag == nullptr) throw std::logic_error(spec_.name + " declares no flag --" + name);
  return *flag;
}

std::optional<std::string> Args::get(const std::string& name) const {
  declared(name);
  const auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Args::get_or(const std::string& name, const std::string& fallback) const {
  return get(name).value_or(fallback);
}

long long Args::get_number(const std::string& name, long long fallback) const {
  if (declared(name).kind != FlagKind::kInteger) {
    throw std::logic_error("--" + name + " is not declared as an integer");
  }
  const auto value = get(name);
  return value ? *parse_integer(*value) : fallback;
}

bool Args::has(const std::string& name) const {
  declared(name);
  return values_.count(name) != 0;
}

}  // namespace coderun::cli
