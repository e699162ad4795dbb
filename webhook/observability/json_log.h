#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace spdlog {
class logger;
}

namespace coderun::observability {

// One JSON object per line on stdout: {"time":..., "level":..., "msg":..., <fields>}.
// spdlog does the I/O (thread-safe, levels); the object is serialised here with proper escaping.
class JsonLog {
 public:
  enum class Level { kDebug, kInfo, kWarn, kError };

  // level: debug|info|warn|error; unknown text falls back to info.
  explicit JsonLog(std::string_view level = "info");
  ~JsonLog();

  void log(Level level, std::string_view msg,
           const nlohmann::json& fields = nlohmann::json::object()) const;
  void debug(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object()) const {
    log(Level::kDebug, msg, fields);
  }
  void info(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object()) const {
    log(Level::kInfo, msg, fields);
  }
  void warn(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object()) const {
    log(Level::kWarn, msg, fields);
  }
  void error(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object()) const {
    log(Level::kError, msg, fields);
  }
  bool enabled(Level level) const;

 private:
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace coderun::observability
