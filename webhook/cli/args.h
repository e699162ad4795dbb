#pragma once
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace coderun::cli {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// --name value, --name=value and -f value; flags listed in `switches` take no value.
class Args {
 public:
  Args(const std::vector<std::string>& words, const std::vector<std::string>& switches);
  std::optional<std::string> get(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& fallback) const;
  long get_number(const std::string& name, long fallback) const;
  bool has(const std::string& name) const;

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace coderun::cli
