// ParseRedisUrl: redis://[[user]:password@]host[:port][/db].
#include <charconv>
#include <string>
#include <string_view>

#include "cache/cache.h"

namespace quarry::cache {
namespace {

Status UrlError(std::string_view what) {
  return Status::InvalidArgument("redis url: " + std::string(what));
}

// Decodes %XX escapes (user names and passwords may need them for ':', '@', '/').
Result<std::string> PercentDecode(std::string_view in, std::string_view field) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    unsigned value = 0;
    if (i + 2 >= in.size()) {
      return UrlError("bad %-escape in the " + std::string(field));
    }
    auto [ptr, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, value, 16);
    if (ec != std::errc() || ptr != in.data() + i + 3) {
      return UrlError("bad %-escape in the " + std::string(field));
    }
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

// A decimal number in [min, max], digits only.
bool ParseInt(std::string_view text, int min, int max, int* out) {
  if (text.empty() || text.size() > 10) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  long long value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return false;
  if (value < min || value > max) return false;
  *out = static_cast<int>(value);
  return true;
}

}  // namespace

Result<RedisUrl> ParseRedisUrl(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, 9) == "rediss://") {
    return Status::Unsupported("redis url: TLS (rediss://) is not supported");
  }
  if (url.substr(0, kScheme.size()) != kScheme) {
    return UrlError("'" + std::string(url) + "' does not start with redis://");
  }
  std::string_view rest = url.substr(kScheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return UrlError("query parameters and fragments are not supported");
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash + 1);

  RedisUrl out;
  // Userinfo ends at the last '@' (a raw '@' in a password is common enough).
  const size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      return UrlError("credentials must be ':password@' or 'user:password@'");
    }
    QUARRY_ASSIGN_OR_RETURN(out.user, PercentDecode(userinfo.substr(0, colon), "user name"));
    QUARRY_ASSIGN_OR_RETURN(out.password, PercentDecode(userinfo.substr(colon + 1), "password"));
    if (!out.user.empty() && out.password.empty()) {
      return UrlError("a user name needs a password");
    }
  }

  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return UrlError("unterminated '[' in the host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return UrlError("unexpected text after ']'");
      port = after.substr(1);
      if (port.empty()) return UrlError("empty port");
    }
  } else {
    const size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      if (port.empty()) return UrlError("empty port");
    }
  }
  if (host.empty()) return UrlError("empty host");
  if (host.find_first_of(":[]@ ") != std::string_view::npos && authority.front() != '[') {
    return UrlError("bad host '" + std::string(host) + "'");
  }
  out.host = std::string(host);
  if (!port.empty() && !ParseInt(port, 1, 65535, &out.port)) {
    return UrlError("bad port '" + std::string(port) + "' (1..65535)");
  }
  if (!path.empty() && !ParseInt(path, 0, 1 << 20, &out.db)) {
    return UrlError("bad database '" + std::string(path) + "' (a number after '/')");
  }
  return out;
}

}  // namespace quarry::cache
