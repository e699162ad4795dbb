#pragma once
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/flag_spec.h"

namespace coderun::cli {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The flags of one command, checked against its CommandSpec as they are read: --name value,
// --name=value, -f value. Unknown flags, flags given twice, missing values and values out of
// range are UsageErrors naming the flag and what it accepts, so a typo never runs silently with
// a default.
class Args {
 public:
  Args(const CommandSpec& spec, const std::vector<std::string>& words);
  std::optional<std::string> get(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& fallback) const;
  // kInteger flags only: the value was checked against the flag's range when read.
  long long get_number(const std::string& name, long long fallback) const;
  bool has(const std::string& name) const;

 private:
  const Flag& declared(const std::string& name) const;  // std::logic_error if undeclared

  const CommandSpec& spec_;
  std::map<std::string, std::string> values_;
};

// What a flag accepts, for messages and --help: "an integer from 0 to 65535 (0: any free port)".
std::string accepted_values(const Flag& flag);

// Strict decimal: optional '-', digits, nothing else; std::nullopt when not a number or past
// long long.
std::optional<long long> parse_integer(const std::string& text);

}  // namespace coderun::cli
