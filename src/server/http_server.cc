#include "server/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/log.h"

namespace quarry::server {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kListenId = 0;
constexpr uint64_t kWakeId = 1;
constexpr size_t kReadChunk = 64 << 10;
constexpr size_t kMaxReadPerEvent = 1 << 20;
constexpr size_t kMaxPipelinedBytes = 1 << 20;  // input buffered while a request runs
constexpr size_t kMaxPendingOutput = 4 << 20;   // parse no further while this much is unsent
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr auto kTick = std::chrono::milliseconds(50);

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string SecondsText(std::chrono::milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", static_cast<double>(ms.count()) / 1000.0);
  return buf;
}

HttpResponse DefaultError(int status, const std::string& message) {
  HttpResponse response;
  response.status = status;
  response.body = nlohmann::json({{"status", {{"error", message}}}, {"time", 0}})
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

std::string PeerName(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
    return "[" + std::string(host) + "]:" + std::to_string(port);
  }
  return "unix";
}

struct Job {
  uint64_t conn_id = 0;
  uint64_t seq = 0;
  HttpRequest request;
  Clock::time_point received;
};

struct Completion {
  uint64_t conn_id = 0;
  uint64_t seq = 0;
  HttpResponse response;
  double queue_seconds = 0;
};

struct Conn {
  uint64_t id = 0;
  int fd = -1;
  std::string remote;
  std::string in;  // received, not yet consumed; starts at the current request
  RequestParser parser;
  std::string out;  // serialised responses not yet sent
  size_t out_off = 0;
  uint32_t events = 0;  // registered with epoll

  bool in_flight = false;  // a request of this connection is with the workers
  uint64_t job_seq = 0;
  bool close_after_write = false;  // no more requests: close once the output is sent
  bool read_closed = false;        // the peer sent FIN
  bool lingering = false;          // output sent, write side shut, draining input
  bool continue_sent = false;
  bool request_started = false;

  Clock::time_point last_activity;
  Clock::time_point request_start;
  Clock::time_point write_progress;
  Clock::time_point linger_deadline;

  // The request with the workers.
  std::string method;
  std::string path;
  size_t bytes_in = 0;
  bool head = false;
  bool keep_alive = true;
  Clock::time_point received;

  explicit Conn(ParserLimits limits) : parser(limits) {}
  bool output_pending() const { return out_off < out.size(); }
};

}  // namespace

struct HttpServer::Impl {
  ServerOptions options;
  Handler handler;
  int listen_fd = -1;
  int epoll_fd = -1;
  int wake_fd = -1;
  uint16_t port = 0;
  std::string address;
  std::thread io_thread;
  std::vector<std::thread> workers;

  std::mutex queue_mu;
  std::condition_variable queue_cv;
  std::deque<Job> queue;
  bool queue_closed = false;

  std::mutex done_mu;
  std::vector<Completion> done;

  std::atomic<bool> stop_requested{false};
  std::mutex stop_mu;
  bool stopped = false;

  std::atomic<uint64_t> n_connections{0};
  std::atomic<uint64_t> n_queued{0};
  std::atomic<uint64_t> n_in_flight{0};
  std::atomic<uint64_t> n_rejected{0};
  std::atomic<uint64_t> n_accepted{0};

  // Event-loop state (io_thread only).
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns;
  uint64_t next_conn_id = 2;
  uint64_t next_seq = 1;
  bool draining = false;
  Clock::time_point drain_deadline;
  bool listen_paused = false;
  Clock::time_point listen_resume;
  Clock::time_point now;
  std::vector<char> read_buffer = std::vector<char>(kReadChunk);

  ~Impl() {
    if (listen_fd >= 0) ::close(listen_fd);
    if (epoll_fd >= 0) ::close(epoll_fd);
    if (wake_fd >= 0) ::close(wake_fd);
  }

  HttpResponse MakeError(const HttpRequest* request, int status, const std::string& message) {
    if (options.make_error) {
      try {
        return options.make_error(request, status, message);
      } catch (...) {
      }
    }
    return DefaultError(status, message);
  }

  void Wake() {
    uint64_t one = 1;
    ssize_t ignored = ::write(wake_fd, &one, sizeof(one));
    (void)ignored;
  }

  // ---- workers ----

  void WorkerLoop() {
    while (true) {
      Job job;
      {
        std::unique_lock lock(queue_mu);
        queue_cv.wait(lock, [&] { return !queue.empty() || queue_closed; });
        if (queue.empty()) return;
        job = std::move(queue.front());
        queue.pop_front();
      }
      n_queued.fetch_sub(1);
      Clock::time_point start = Clock::now();
      Completion completion;
      completion.conn_id = job.conn_id;
      completion.seq = job.seq;
      completion.queue_seconds = Seconds(start - job.received);
      if (start - job.received > options.request_timeout) {
        completion.response = MakeError(&job.request, 503,
                                        "request waited longer than " +
                                            SecondsText(options.request_timeout) +
                                            "s for a worker; retry later");
      } else {
        try {
          completion.response = handler(job.request);
        } catch (const std::exception& e) {
          completion.response =
              MakeError(&job.request, 500, std::string("internal error: ") + e.what());
        } catch (...) {
          completion.response = MakeError(&job.request, 500, "internal error");
        }
      }
      {
        std::lock_guard lock(done_mu);
        done.push_back(std::move(completion));
      }
      Wake();
    }
  }

  bool TryEnqueue(Job& job) {
    {
      std::lock_guard lock(queue_mu);
      if (queue_closed || queue.size() >= options.queue_capacity) return false;
      queue.push_back(std::move(job));
    }
    n_queued.fetch_add(1);
    n_in_flight.fetch_add(1);
    queue_cv.notify_one();
    return true;
  }

  // ---- event loop ----

  Conn* Find(uint64_t id) {
    auto it = conns.find(id);
    return it == conns.end() ? nullptr : it->second.get();
  }

  void Close(Conn* conn) {
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, conn->fd, nullptr);
    ::close(conn->fd);
    n_connections.fetch_sub(1);
    conns.erase(conn->id);
  }

  bool WantRead(const Conn& conn) const {
    if (conn.lingering) return true;
    if (conn.read_closed || conn.close_after_write || draining) return false;
    // Back-pressure: a client that sends faster than it reads answers waits.
    if (conn.out.size() - conn.out_off > kMaxPendingOutput) return false;
    if (conn.in_flight) return conn.in.size() < kMaxPipelinedBytes;
    return true;
  }

  // Returns false when the connection was closed.
  bool UpdateInterest(Conn* conn) {
    uint32_t want = 0;
    if (WantRead(*conn)) want |= EPOLLIN;
    if (!conn->lingering && conn->output_pending()) want |= EPOLLOUT;
    if (want != conn->events) {
      epoll_event event{};
      event.events = want;
      event.data.u64 = conn->id;
      if (::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, conn->fd, &event) != 0) {
        Close(conn);
        return false;
      }
      conn->events = want;
    }
    return true;
  }

  void Respond(Conn* conn, const HttpResponse& response, bool keep_alive, bool head,
               std::string_view method, std::string_view path, size_t bytes_in,
               double queue_seconds, double total_seconds) {
    bool keep = keep_alive && !response.close && !draining;
    if (!conn->output_pending()) conn->write_progress = now;
    AppendResponse(response, keep, head, &conn->out);
    if (!keep) conn->close_after_write = true;
    conn->last_activity = now;
    if (options.on_access) {
      AccessRecord record;
      record.remote = conn->remote;
      record.method = method;
      record.path = path;
      record.route = response.route;
      record.status = response.status;
      record.bytes_in = bytes_in;
      record.bytes_out = response.body.size();
      record.queue_seconds = queue_seconds;
      record.total_seconds = total_seconds;
      try {
        options.on_access(record);
      } catch (...) {
      }
    }
  }

  bool StartLinger(Conn* conn) {
    if (conn->read_closed) {
      Close(conn);
      return false;
    }
    if (draining) {
      // Shutting down: nothing unread means closing cannot turn into a reset
      // that destroys the response, so do not wait for the peer.
      int unread = 0;
      if (::ioctl(conn->fd, FIONREAD, &unread) == 0 && unread == 0) {
        ::shutdown(conn->fd, SHUT_WR);
        Close(conn);
        return false;
      }
    }
    ::shutdown(conn->fd, SHUT_WR);
    conn->lingering = true;
    conn->linger_deadline = now + (draining ? kLingerTime / 4 : kLingerTime);
    conn->in.clear();
    return UpdateInterest(conn);
  }

  // Sends what it can; finishes the connection when nothing more will come.
  bool FlushOut(Conn* conn) {
    while (conn->output_pending()) {
      ssize_t sent = ::send(conn->fd, conn->out.data() + conn->out_off,
                            conn->out.size() - conn->out_off, MSG_NOSIGNAL);
      if (sent > 0) {
        conn->out_off += static_cast<size_t>(sent);
        conn->write_progress = now;
        conn->last_activity = now;
        continue;
      }
      if (sent < 0 && errno == EINTR) continue;
      if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      Close(conn);
      return false;
    }
    if (!conn->output_pending()) {
      conn->out.clear();
      conn->out_off = 0;
      if (!conn->in_flight && !conn->lingering) {
        if (conn->close_after_write) return StartLinger(conn);
        if (conn->read_closed) {  // nothing complete is left to answer
          Close(conn);
          return false;
        }
      }
    } else if (conn->out_off > (1 << 20)) {
      conn->out.erase(0, conn->out_off);
      conn->out_off = 0;
    }
    return UpdateInterest(conn);
  }

  // Parses and dispatches buffered requests, one at a time.
  bool ProcessInput(Conn* conn) {
    while (!conn->in_flight && !conn->close_after_write && !draining && !conn->lingering) {
      if (conn->in.empty()) {
        conn->request_started = false;
        break;
      }
      if (conn->out.size() - conn->out_off > kMaxPendingOutput) break;
      RequestParser::State state = conn->parser.Parse(conn->in);
      if (state == RequestParser::State::kNeedMore) {
        if (!conn->request_started) {
          conn->request_started = true;
          conn->request_start = now;
        }
        if (conn->parser.head_done() && conn->parser.request().expect_continue &&
            !conn->continue_sent) {
          if (!conn->output_pending()) conn->write_progress = now;
          conn->out += "HTTP/1.1 100 Continue\r\n\r\n";
          conn->continue_sent = true;
        }
        break;
      }
      if (state == RequestParser::State::kError) {
        const ParseError& error = conn->parser.error();
        HttpResponse response = MakeError(nullptr, error.status, error.message);
        response.close = true;
        const HttpRequest& partial = conn->parser.request();
        Respond(conn, response, false, false, partial.method, partial.path, 0, 0, 0);
        conn->in.clear();
        break;
      }
      HttpRequest request = std::move(conn->parser.request());
      conn->in.erase(0, conn->parser.consumed());
      conn->parser.Reset();
      conn->continue_sent = false;
      conn->request_started = false;
      request.remote = conn->remote;

      Job job;
      job.conn_id = conn->id;
      job.seq = next_seq++;
      job.received = now;
      conn->method = request.method;
      conn->path = request.path;
      conn->bytes_in = request.body.size();
      conn->head = request.method == "HEAD";
      conn->keep_alive = request.keep_alive;
      job.request = std::move(request);
      if (!TryEnqueue(job)) {
        n_rejected.fetch_add(1);
        HttpResponse response = MakeError(
            &job.request, 503,
            "server overloaded: the request queue is full (" +
                std::to_string(options.queue_capacity) + " waiting); retry later");
        response.headers.emplace_back("Retry-After", "1");
        Respond(conn, response, conn->keep_alive, conn->head, conn->method, conn->path,
                conn->bytes_in, 0, 0);
        continue;
      }
      conn->in_flight = true;
      conn->job_seq = job.seq;
      conn->received = now;
    }
    return FlushOut(conn);
  }

  bool OnReadable(Conn* conn) {
    size_t total = 0;
    while (total < kMaxReadPerEvent) {
      ssize_t got = ::recv(conn->fd, read_buffer.data(), read_buffer.size(), 0);
      if (got > 0) {
        total += static_cast<size_t>(got);
        conn->last_activity = now;
        if (!conn->lingering) {
          conn->in.append(read_buffer.data(), static_cast<size_t>(got));
          if (conn->in_flight && conn->in.size() >= kMaxPipelinedBytes) break;
        }
        continue;
      }
      if (got == 0) {
        conn->read_closed = true;
        break;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      Close(conn);
      return false;
    }
    if (conn->lingering) {
      if (conn->read_closed) {
        Close(conn);
        return false;
      }
      return true;
    }
    return ProcessInput(conn);
  }

  void AcceptAll() {
    while (listen_fd >= 0) {
      sockaddr_storage addr{};
      socklen_t len = sizeof(addr);
      int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: stop accepting for a moment instead of spinning.
          LogWarning(std::string("server: accept failed: ") + std::strerror(errno) +
                     "; pausing new connections");
          epoll_event event{};
          event.data.u64 = kListenId;
          ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &event);
          listen_paused = true;
          listen_resume = now + std::chrono::milliseconds(200);
        }
        return;
      }
      n_accepted.fetch_add(1);
      if (conns.size() >= options.max_connections) {
        std::string reply;
        AppendResponse(MakeError(nullptr, 503, "too many open connections"), false, false, &reply);
        ssize_t ignored = ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)ignored;
        ::close(fd);
        n_rejected.fetch_add(1);
        continue;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      auto conn = std::make_unique<Conn>(options.limits);
      conn->id = next_conn_id++;
      conn->fd = fd;
      conn->remote = PeerName(addr);
      conn->last_activity = now;
      conn->events = EPOLLIN;
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.u64 = conn->id;
      if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
        ::close(fd);
        continue;
      }
      n_connections.fetch_add(1);
      conns.emplace(conn->id, std::move(conn));
    }
  }

  void DrainCompletions() {
    std::vector<Completion> batch;
    {
      std::lock_guard lock(done_mu);
      batch.swap(done);
    }
    for (Completion& completion : batch) {
      n_in_flight.fetch_sub(1);
      Conn* conn = Find(completion.conn_id);
      if (conn == nullptr || !conn->in_flight || conn->job_seq != completion.seq) continue;
      conn->in_flight = false;
      Respond(conn, completion.response, conn->keep_alive, conn->head, conn->method, conn->path,
              conn->bytes_in, completion.queue_seconds, Seconds(now - conn->received));
      ProcessInput(conn);  // the next pipelined request, then flush
    }
  }

  void Sweep() {
    if (listen_paused && now >= listen_resume && listen_fd >= 0) {
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.u64 = kListenId;
      ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &event);
      listen_paused = false;
    }
    std::vector<uint64_t> ids;
    ids.reserve(conns.size());
    for (const auto& [id, conn] : conns) ids.push_back(id);
    for (uint64_t id : ids) {
      Conn* conn = Find(id);
      if (conn == nullptr) continue;
      if (conn->lingering) {
        if (now >= conn->linger_deadline) Close(conn);
        continue;
      }
      if (conn->in_flight) {
        if (now - conn->received > options.request_timeout) {
          conn->in_flight = false;  // the worker's late answer is dropped
          HttpResponse response =
              MakeError(nullptr, 503,
                        "request timed out after " + SecondsText(options.request_timeout) + "s");
          response.close = true;
          Respond(conn, response, false, conn->head, conn->method, conn->path, conn->bytes_in, 0,
                  Seconds(now - conn->received));
          FlushOut(conn);
        }
        continue;
      }
      if (conn->output_pending()) {
        if (now - conn->write_progress > options.write_timeout) Close(conn);
        continue;
      }
      if (conn->request_started && !conn->in.empty()) {
        if (now - conn->request_start > options.read_timeout) {
          HttpResponse response = MakeError(
              nullptr, 408,
              "request not received within " + SecondsText(options.read_timeout) + "s");
          response.close = true;
          Respond(conn, response, false, false, "", "", 0, 0, 0);
          conn->in.clear();
          FlushOut(conn);
        }
        continue;
      }
      if (now - conn->last_activity > options.idle_timeout) Close(conn);
    }
  }

  void BeginDrain() {
    draining = true;
    drain_deadline = now + options.drain_timeout;
    if (listen_fd >= 0) {
      ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, listen_fd, nullptr);
      ::close(listen_fd);
      listen_fd = -1;
    }
    std::vector<uint64_t> ids;
    for (const auto& [id, conn] : conns) ids.push_back(id);
    for (uint64_t id : ids) {
      Conn* conn = Find(id);
      if (conn == nullptr || conn->lingering) continue;
      if (conn->in_flight || conn->output_pending()) {
        conn->close_after_write = true;
        UpdateInterest(conn);
      } else {
        Close(conn);
      }
    }
  }

  void Loop() {
    std::vector<epoll_event> events(256);
    Clock::time_point next_sweep = Clock::now() + kTick;
    while (true) {
      int n = ::epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()),
                           static_cast<int>(kTick.count()));
      if (n < 0 && errno != EINTR) {
        LogWarning(std::string("server: epoll_wait failed: ") + std::strerror(errno));
        break;
      }
      now = Clock::now();
      for (int event_idx = 0; event_idx < n; ++event_idx) {
        uint64_t id = events[event_idx].data.u64;
        uint32_t ev = events[event_idx].events;
        if (id == kListenId) {
          AcceptAll();
          continue;
        }
        if (id == kWakeId) {
          uint64_t value;
          ssize_t ignored = ::read(wake_fd, &value, sizeof(value));
          (void)ignored;
          continue;
        }
        Conn* conn = Find(id);
        if (conn == nullptr) continue;
        if (ev & EPOLLERR) {
          Close(conn);
          continue;
        }
        if (ev & (EPOLLIN | EPOLLHUP)) {
          if (!OnReadable(conn)) continue;
          if ((ev & EPOLLHUP) && !(ev & EPOLLIN)) {
            Close(conn);
            continue;
          }
        }
        // Output drained: buffered requests held back by back-pressure may go on.
        if ((ev & EPOLLOUT) && FlushOut(conn)) ProcessInput(conn);
      }
      DrainCompletions();
      if (stop_requested.load() && !draining) BeginDrain();
      if (now >= next_sweep) {
        Sweep();
        next_sweep = now + kTick;
      }
      if (draining && (conns.empty() || now >= drain_deadline)) break;
    }
    for (auto& [id, conn] : conns) {
      ::close(conn->fd);
      n_connections.fetch_sub(1);
    }
    conns.clear();
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(ServerOptions options, Handler handler) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->handler = std::move(handler);
  ServerOptions& opts = impl->options;
  if (opts.queue_capacity == 0) return Status::InvalidArgument("queue capacity must be at least 1");
  size_t workers = opts.workers;
  if (workers == 0) workers = std::max<size_t>(2, std::thread::hardware_concurrency());

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string port_text = std::to_string(opts.port);
  int gai = ::getaddrinfo(opts.host.empty() ? nullptr : opts.host.c_str(), port_text.c_str(),
                          &hints, &found);
  if (gai != 0) {
    return Status::InvalidArgument("cannot resolve host '" + opts.host + "': " + ::gai_strerror(gai));
  }
  std::string last_error = "no address";
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 1024) != 0) {
      last_error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    impl->listen_fd = fd;
    break;
  }
  ::freeaddrinfo(found);
  if (impl->listen_fd < 0) {
    return Status::IOError("cannot listen on " + opts.host + ":" + port_text + ": " + last_error);
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  ::getsockname(impl->listen_fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  impl->address = PeerName(bound);
  impl->port = bound.ss_family == AF_INET6
                   ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                   : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);

  impl->epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  impl->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl->epoll_fd < 0 || impl->wake_fd < 0) {
    return Status::IOError(std::string("cannot create epoll/eventfd: ") + std::strerror(errno));
  }
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kListenId;
  ::epoll_ctl(impl->epoll_fd, EPOLL_CTL_ADD, impl->listen_fd, &event);
  event.data.u64 = kWakeId;
  ::epoll_ctl(impl->epoll_fd, EPOLL_CTL_ADD, impl->wake_fd, &event);

  Impl* raw = impl.get();
  raw->now = Clock::now();
  for (size_t worker_idx = 0; worker_idx < workers; ++worker_idx) {
    raw->workers.emplace_back([raw] { raw->WorkerLoop(); });
  }
  raw->io_thread = std::thread([raw] { raw->Loop(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

uint16_t HttpServer::port() const { return impl_->port; }

std::string HttpServer::address() const { return impl_->address; }

ServerStats HttpServer::stats() const {
  ServerStats stats;
  stats.connections = impl_->n_connections.load();
  stats.queued = impl_->n_queued.load();
  stats.in_flight = impl_->n_in_flight.load();
  stats.rejected_overload = impl_->n_rejected.load();
  stats.accepted_connections = impl_->n_accepted.load();
  return stats;
}

bool HttpServer::stopping() const { return impl_->stop_requested.load(); }

void HttpServer::Stop() {
  std::lock_guard lock(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->stop_requested.store(true);
  impl_->Wake();
  if (impl_->io_thread.joinable()) impl_->io_thread.join();
  {
    std::lock_guard queue_lock(impl_->queue_mu);
    impl_->queue_closed = true;
  }
  impl_->queue_cv.notify_all();
  for (auto& worker : impl_->workers) {
    if (worker.joinable()) worker.join();
  }
}

}  // namespace quarry::server
