#include "observability/json_log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>

#include "util/json_text.h"

namespace coderun::observability {
namespace {

spdlog::level::level_enum to_spdlog(JsonLog::Level level) {
  switch (level) {
    case JsonLog::Level::kDebug:
      return spdlog::level::debug;
    case JsonLog::Level::kInfo:
      return spdlog::level::info;
    case JsonLog::Level::kWarn:
      return spdlog::level::warn;
    case JsonLog::Level::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

const char* level_name(JsonLog::Level level) {
  switch (level) {
    case JsonLog::Level::kDebug:
      return "debug";
    case JsonLog::Level::kInfo:
      return "info";
    case JsonLog::Level::kWarn:
      return "warn";
    case JsonLog::Level::kError:
      return "error";
  }
  return "info";
}

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis));
  return text;
}

}  // namespace

JsonLog::JsonLog(std::string_view level)
    : logger_(std::make_shared<spdlog::logger>("coderun-webhook",
                                               std::make_shared<spdlog::sinks::stdout_sink_mt>())) {
  logger_->set_pattern("%v");
  Level chosen = Level::kInfo;
  if (level == "debug") chosen = Level::kDebug;
  if (level == "warn" || level == "warning") chosen = Level::kWarn;
  if (level == "error") chosen = Level::kError;
  logger_->set_level(to_spdlog(chosen));
  logger_->flush_on(spdlog::level::debug);
}

JsonLog::~JsonLog() = default;

bool JsonLog::enabled(Level level) const { return logger_->should_log(to_spdlog(level)); }

void JsonLog::log(Level level, std::string_view msg, const nlohmann::json& fields) const {
  if (!enabled(level)) return;
  // Written as text, each value serialised straight into the line: this runs per request.
  std::string line;
  line.reserve(512);
  line += R"({"time":")";
  line += utc_now();
  line += R"(","level":")";
  line += level_name(level);
  line += R"(","msg":)";
  util::append_json(line, nlohmann::json(msg));
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.items()) {
      if (key == "time" || key == "level" || key == "msg") continue;  // reserved
      line += ',';
      util::append_json(line, nlohmann::json(key));
      line += ':';
      util::append_json(line, value);
    }
  }
  line += '}';
  logger_->log(to_spdlog(level), "{}", line);
}

}  // namespace coderun::observability
