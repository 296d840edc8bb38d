// Minimal logging to stderr: `[quarry] warning: ...`. QUARRY_LOG=quiet silences
// info messages. Thread-safe (one write(2) per message).
#ifndef QUARRY_COMMON_LOG_H_
#define QUARRY_COMMON_LOG_H_

#include <string_view>

namespace quarry {

enum class LogLevel { kInfo, kWarning, kError };

void Log(LogLevel level, std::string_view message);
inline void LogInfo(std::string_view message) { Log(LogLevel::kInfo, message); }
inline void LogWarning(std::string_view message) { Log(LogLevel::kWarning, message); }

}  // namespace quarry

#endif  // QUARRY_COMMON_LOG_H_
