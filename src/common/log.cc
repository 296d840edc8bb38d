#include "common/log.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

namespace quarry {

void Log(LogLevel level, std::string_view message) {
  static const bool quiet = [] {
    const char* env = std::getenv("QUARRY_LOG");
    return env != nullptr && std::string_view(env) == "quiet";
  }();
  if (quiet && level == LogLevel::kInfo) return;
  std::string line = "[quarry] ";
  switch (level) {
    case LogLevel::kInfo: break;
    case LogLevel::kWarning: line += "warning: "; break;
    case LogLevel::kError: line += "error: "; break;
  }
  line += message;
  line += '\n';
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace quarry
