// HttpServer: an HTTP/1.1 server with one epoll event loop and a fixed pool of
// worker threads.
//
// The event loop owns every socket: it accepts, reads, parses requests
// (RequestParser), and writes responses. Complete requests go into a bounded
// queue in front of the workers, which run the handler. When the queue is
// full the loop answers 503 at once, so load never piles up without bound;
// idle keep-alive connections cost a file descriptor and a little memory,
// never a thread. A connection has at most one request in the workers at a
// time, so pipelined requests are answered in order.
//
// Limits and timeouts (ServerOptions): header and body sizes (431/414/413),
// a request must arrive within read_timeout (408), an idle keep-alive
// connection is closed after idle_timeout, a request waiting in the queue or
// running longer than request_timeout is answered 503/504 (the handler keeps
// running; its late result is dropped), a client that stops reading its
// response is dropped after write_timeout.
//
// Stop() is graceful: stop accepting, close idle connections, let queued and
// running requests finish and their responses go out (drain_timeout at most),
// then join every thread.
//
// Thread-safety: Stop() and the accessors may be called from any thread. The
// handler is called from many worker threads at once.
#ifndef QUARRY_SERVER_HTTP_SERVER_H_
#define QUARRY_SERVER_HTTP_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "quarry/status.h"
#include "server/http.h"

namespace quarry::server {

// What the access log and the metrics see of each answered request.
struct AccessRecord {
  std::string_view remote;
  std::string_view method;  // empty when the request line could not be parsed
  std::string_view path;
  std::string_view route;   // the handler's route label; empty for server-made answers
  int status = 0;
  size_t bytes_in = 0;      // request body
  size_t bytes_out = 0;     // response body
  double queue_seconds = 0;  // waiting for a worker
  double total_seconds = 0;  // from the complete request to the response
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 6333;   // 0: any free port (see HttpServer::port())
  size_t workers = 0;     // 0: one per hardware thread, at least 2
  size_t queue_capacity = 1024;  // requests waiting for a worker
  size_t max_connections = 10000;
  ParserLimits limits;
  std::chrono::milliseconds read_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds write_timeout{30000};
  std::chrono::milliseconds request_timeout{120000};
  std::chrono::milliseconds drain_timeout{30000};
  // Called for every response, from the event loop thread. Optional.
  std::function<void(const AccessRecord&)> on_access;
  // Builds the answers the server makes itself (parse errors, 503, timeouts).
  // `request` is null when no request could be parsed. Optional: the default
  // body is {"status":{"error":MESSAGE},"time":0}.
  std::function<HttpResponse(const HttpRequest* request, int status, const std::string& message)>
      make_error;
};

struct ServerStats {
  uint64_t connections = 0;        // open now
  uint64_t queued = 0;             // requests waiting for a worker now
  uint64_t in_flight = 0;          // requests queued or running now
  uint64_t rejected_overload = 0;  // 503 because the queue was full, since start
  uint64_t accepted_connections = 0;
};

class HttpServer {
 public:
  // The handler turns a request into a response; exceptions it throws become
  // a 500. HEAD requests reach it as HEAD (answer as for GET; the body is
  // dropped).
  using Handler = std::function<HttpResponse(HttpRequest& request)>;

  // Binds, listens and starts the threads. Errors: the address cannot be
  // resolved or bound.
  static Result<std::unique_ptr<HttpServer>> Start(ServerOptions options, Handler handler);

  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;
  // "127.0.0.1:6333", "[::1]:6333".
  std::string address() const;
  ServerStats stats() const;

  // Graceful stop; blocks until every thread has ended. Idempotent.
  void Stop();
  // True once Stop() began.
  bool stopping() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace quarry::server

#endif  // QUARRY_SERVER_HTTP_SERVER_H_
