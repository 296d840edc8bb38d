// Router: maps (method, path) to a handler by pattern ("/collections/{name}").
//
// Paths are split on '/', then each segment is percent-decoded, so a
// parameter may hold any character ("%2F" is a '/' inside a document id).
// HEAD matches GET routes.
//
// Thread-safety: Add() before serving; Match() from any number of threads.
#ifndef QUARRY_SERVER_ROUTER_H_
#define QUARRY_SERVER_ROUTER_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "server/http.h"

namespace quarry::server {

// Who may call a route when API keys are configured.
enum class Access { kPublic, kRead, kWrite };

struct RouteContext {
  HttpRequest& request;
  std::vector<std::string> params;  // decoded, in pattern order
};

using RouteHandler = std::function<HttpResponse(RouteContext&)>;

struct Route {
  std::string method;
  std::string pattern;
  Access access = Access::kRead;
  RouteHandler handler;
  std::vector<std::string> segments;  // "{name}" marks a parameter
};

struct RouteMatch {
  enum class Kind { kFound, kNotFound, kMethodNotAllowed, kBadPath };
  Kind kind = Kind::kNotFound;
  const Route* route = nullptr;
  std::vector<std::string> params;
  std::string allow;    // kMethodNotAllowed: "GET, PUT"
  std::string problem;  // kBadPath: what is wrong with the path
};

class Router {
 public:
  void Add(std::string method, std::string pattern, Access access, RouteHandler handler);
  RouteMatch Match(std::string_view method, std::string_view path) const;
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace quarry::server

#endif  // QUARRY_SERVER_ROUTER_H_
