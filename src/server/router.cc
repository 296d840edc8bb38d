#include "server/router.h"

namespace quarry::server {
namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> segments;
  if (path.empty() || path[0] != '/') return segments;
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    segments.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  // "/" is one empty segment; treat it as none.
  if (segments.size() == 1 && segments[0].empty()) segments.clear();
  return segments;
}

bool IsParam(const std::string& segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

void Router::Add(std::string method, std::string pattern, Access access, RouteHandler handler) {
  Route route;
  route.method = std::move(method);
  route.access = access;
  route.handler = std::move(handler);
  for (std::string_view segment : SplitPath(pattern)) route.segments.emplace_back(segment);
  route.pattern = std::move(pattern);
  routes_.push_back(std::move(route));
}

RouteMatch Router::Match(std::string_view method, std::string_view path) const {
  RouteMatch match;
  std::vector<std::string_view> raw = SplitPath(path);
  std::vector<std::string> segments;
  segments.reserve(raw.size());
  for (std::string_view segment : raw) {
    std::string decoded;
    if (!PercentDecode(segment, &decoded)) {
      match.kind = RouteMatch::Kind::kBadPath;
      match.problem = "malformed percent-encoding in the path";
      return match;
    }
    if (!ValidUtf8(decoded)) {
      match.kind = RouteMatch::Kind::kBadPath;
      match.problem = "the path is not valid UTF-8 once percent-decoded";
      return match;
    }
    segments.push_back(std::move(decoded));
  }
  std::string_view wanted = method == "HEAD" ? std::string_view("GET") : method;
  for (const Route& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    std::vector<std::string> params;
    bool same = true;
    for (size_t seg_idx = 0; seg_idx < segments.size() && same; ++seg_idx) {
      if (IsParam(route.segments[seg_idx])) {
        if (segments[seg_idx].empty()) same = false;
        params.push_back(segments[seg_idx]);
      } else {
        same = route.segments[seg_idx] == segments[seg_idx];
      }
    }
    if (!same) continue;
    if (route.method == wanted) {
      match.kind = RouteMatch::Kind::kFound;
      match.route = &route;
      match.params = std::move(params);
      return match;
    }
    if (match.allow.find(route.method) == std::string::npos) {
      match.allow += (match.allow.empty() ? "" : ", ") + route.method;
    }
    match.kind = RouteMatch::Kind::kMethodNotAllowed;
  }
  return match;
}

}  // namespace quarry::server
