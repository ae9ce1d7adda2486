// Structured logging to stderr: one line per event, `key=value` fields. Never pass secrets:
// the Secret type prints [redacted] if one slips through.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace twostep::core {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_log_level(LogLevel level);
bool parse_log_level(std::string_view s, LogLevel* out);
bool log_enabled(LogLevel level);
void log_line(LogLevel level, std::string_view msg);

}  // namespace twostep::core

#define TS_LOG(level, expr)                                                    \
  do {                                                                         \
    if (::twostep::core::log_enabled(::twostep::core::LogLevel::level)) {      \
      std::ostringstream ts_log_os_;                                           \
      ts_log_os_ << expr;                                                      \
      ::twostep::core::log_line(::twostep::core::LogLevel::level, ts_log_os_.str()); \
    }                                                                          \
  } while (0)
#define LOG_DEBUG(expr) TS_LOG(kDebug, expr)
#define LOG_INFO(expr) TS_LOG(kInfo, expr)
#define LOG_WARN(expr) TS_LOG(kWarn, expr)
#define LOG_ERROR(expr) TS_LOG(kError, expr)
