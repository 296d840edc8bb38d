#include "common/json_path.h"

namespace quarry {

Result<std::vector<JsonPathStep>> ParseJsonPath(std::string_view path) {
  auto bad = [&](const std::string& what, size_t pos) {
    return Status::InvalidArgument("invalid key path '" + std::string(path) + "': " + what +
                                   " at byte " + std::to_string(pos));
  };
  if (path.empty()) return Status::InvalidArgument("empty key path");
  if (path.size() > kMaxJsonPathBytes) {
    return Status::InvalidArgument("key path longer than " + std::to_string(kMaxJsonPathBytes) +
                                   " bytes");
  }
  std::vector<JsonPathStep> steps;
  size_t pos = 0;
  while (true) {
    // A name, up to '.', '[' or the end.
    size_t end = pos;
    while (end < path.size() && path[end] != '.' && path[end] != '[' && path[end] != ']') ++end;
    if (end == pos) return bad("expected a name", pos);
    steps.push_back({JsonPathStep::Kind::kKey, std::string(path.substr(pos, end - pos)), 0});
    pos = end;
    // Any number of [] / [N] after it.
    while (pos < path.size() && path[pos] == '[') {
      size_t close = path.find(']', pos);
      if (close == std::string_view::npos) return bad("unclosed '['", pos);
      std::string_view inside = path.substr(pos + 1, close - pos - 1);
      if (inside.empty()) {
        steps.push_back({JsonPathStep::Kind::kEach, "", 0});
      } else {
        size_t index = 0;
        for (char c : inside) {
          if (c < '0' || c > '9' || index > 100000000) return bad("expected [] or [N]", pos);
          index = index * 10 + static_cast<size_t>(c - '0');
        }
        steps.push_back({JsonPathStep::Kind::kIndex, "", index});
      }
      pos = close + 1;
    }
    if (pos == path.size()) return steps;
    if (path[pos] != '.') return bad("expected '.' or '['", pos);
    ++pos;
  }
}

}  // namespace quarry
