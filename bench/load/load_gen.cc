// quarry_load_gen: a closed-loop HTTP/1.1 load generator for `quarry serve`
// (bench/run_load.sh drives it; bench/README.md "Load" says what it measures).
//
// N keep-alive connections, spread over T threads with one epoll loop each.
// Every connection sends one request, waits for the whole answer, records its
// latency and sends the next one at once (no pipelining, no think time), for a
// warm-up and then a fixed measured duration. Request bodies come from a file,
// one per line, taken in turn (a global counter) so that concurrent
// connections send different bodies; with --template each "{{n}}" in a body
// becomes the request's sequence number (unique document ids for writers).
//
// Counted over the measured window only:
//   requests             answers received (any status)
//   errors               answers with a non-2xx status (status_counts has them all)
//   dropped_connections  connections the server closed or reset without
//                        announcing it (no "Connection: close" on the last answer),
//                        with a request outstanding or idle; each one is reopened
//   timeouts             requests with no complete answer within --timeout
//                        (the connection is closed and reopened)
//   connect_errors       failed connection attempts (retried after 10 ms)
//   p50/p90/p99/p999/max latency: from the first byte written to the last byte
//   of the answer read, nearest rank over every answer (errors included).
// Requests still outstanding when the window ends are abandoned, not counted.
//
// Usage: quarry_load_gen --url http://HOST:PORT/PATH [--method POST]
//          [--bodies FILE] [--template] [--clients 128] [--threads 1]
//          [--duration 60] [--warmup 3] [--timeout 30] [--label ROUTE]
//          [--header "K: V"]...
// Prints one JSON object on stdout.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;

[[noreturn]] void Die(const std::string& message) {
  std::cerr << "quarry_load_gen: " << message << "\n";
  std::exit(2);
}

struct Options {
  std::string host = "127.0.0.1";
  std::string port = "80";
  std::string path = "/";
  std::string method = "GET";
  std::string bodies_file;
  bool template_bodies = false;
  int clients = 128;
  int threads = 1;
  double duration_s = 60;
  double warmup_s = 3;
  double timeout_s = 30;
  std::string label;
  std::vector<std::string> headers;
};

void Usage() {
  std::cerr << "usage: quarry_load_gen --url http://HOST:PORT/PATH [--method POST] [--bodies FILE]\n"
               "         [--template] [--clients 128] [--threads 1] [--duration 60] [--warmup 3]\n"
               "         [--timeout 30] [--label ROUTE] [--header 'K: V']...\n";
  std::exit(2);
}

double ParseNumber(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(value >= 0)) Die(flag + ": '" + text + "' is not a number");
  return value;
}

void ParseUrl(const std::string& url, Options* options) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) Die("--url must start with http:// (got '" + url + "')");
  std::string rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  options->path = slash == std::string::npos ? "/" : rest.substr(slash);
  size_t colon = authority.rfind(':');
  if (colon == std::string::npos || authority.back() == ']') {
    options->host = authority;
  } else {
    options->host = authority.substr(0, colon);
    options->port = authority.substr(colon + 1);
  }
  if (!options->host.empty() && options->host.front() == '[') {
    options->host = options->host.substr(1, options->host.size() - 2);
  }
  if (options->host.empty()) Die("--url has no host");
}

Options ParseArgs(int argc, char** argv) {
  Options options;
  bool have_url = false;
  for (int arg_idx = 1; arg_idx < argc; ++arg_idx) {
    std::string arg = argv[arg_idx];
    auto value = [&]() -> std::string {
      if (arg_idx + 1 >= argc) Die(arg + " needs a value");
      return argv[++arg_idx];
    };
    if (arg == "--url") {
      ParseUrl(value(), &options);
      have_url = true;
    } else if (arg == "--method") {
      options.method = value();
    } else if (arg == "--bodies") {
      options.bodies_file = value();
    } else if (arg == "--template") {
      options.template_bodies = true;
    } else if (arg == "--clients") {
      options.clients = static_cast<int>(ParseNumber(arg, value()));
    } else if (arg == "--threads") {
      options.threads = static_cast<int>(ParseNumber(arg, value()));
    } else if (arg == "--duration") {
      options.duration_s = ParseNumber(arg, value());
    } else if (arg == "--warmup") {
      options.warmup_s = ParseNumber(arg, value());
    } else if (arg == "--timeout") {
      options.timeout_s = ParseNumber(arg, value());
    } else if (arg == "--label") {
      options.label = value();
    } else if (arg == "--header") {
      options.headers.push_back(value());
    } else if (arg == "--help" || arg == "-h") {
      Usage();
    } else {
      std::cerr << "quarry_load_gen: unknown argument '" << arg << "'\n";
      Usage();
    }
  }
  if (!have_url) Usage();
  if (options.clients < 1) Die("--clients must be at least 1");
  if (options.threads < 1) Die("--threads must be at least 1");
  options.threads = std::min(options.threads, options.clients);
  if (options.duration_s <= 0) Die("--duration must be positive");
  if (options.timeout_s <= 0) Die("--timeout must be positive");
  if (options.label.empty()) options.label = options.method + " " + options.path;
  return options;
}

// ---- the shared, read-only plan ----

struct Plan {
  Options options;
  sockaddr_storage address{};
  socklen_t address_len = 0;
  std::vector<std::string> bodies;  // empty: no body
  std::string head_prefix;          // request line and fixed headers, without Content-Length
  Clock::time_point start;          // warm-up begins
  Clock::time_point measure_begin;  // answers from here on are counted
  Clock::time_point measure_end;    // no new requests; outstanding ones abandoned
  std::atomic<uint64_t> next_body{0};
};

std::string BuildRequest(Plan& plan) {
  std::string request = plan.head_prefix;
  if (plan.bodies.empty()) {
    request += "\r\n";
    return request;
  }
  uint64_t n = plan.next_body.fetch_add(1, std::memory_order_relaxed);
  std::string body = plan.bodies[n % plan.bodies.size()];
  if (plan.options.template_bodies) {
    const std::string number = std::to_string(n);
    for (size_t at = body.find("{{n}}"); at != std::string::npos; at = body.find("{{n}}", at)) {
      body.replace(at, 5, number);
      at += number.size();
    }
  }
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  request += body;
  return request;
}

// ---- per-thread state ----

struct Stats {
  std::vector<uint32_t> latencies_us;
  std::map<int, uint64_t> status_counts;
  uint64_t requests = 0;
  uint64_t errors = 0;
  uint64_t dropped_connections = 0;
  uint64_t announced_closes = 0;
  uint64_t timeouts = 0;
  uint64_t connect_errors = 0;
  uint64_t connections_opened = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
};

enum class ConnState { kConnecting, kSending, kReceiving, kBackoff };

struct Conn {
  int fd = -1;
  ConnState state = ConnState::kBackoff;
  std::string out;
  size_t out_off = 0;
  std::string in;
  Clock::time_point sent_at;        // first byte of the current request written
  Clock::time_point deadline;       // timeout of the current request / end of backoff
  bool request_outstanding = false;
  // Parsed head of the answer being received.
  bool head_done = false;
  size_t head_len = 0;
  size_t content_length = 0;
  int status = 0;
  bool close_announced = false;
};

bool HeaderEquals(std::string_view head, std::string_view name, std::string_view* value) {
  // `head` holds "Name: value\r\n" lines; case-insensitive name match.
  size_t pos = 0;
  while (pos < head.size()) {
    size_t eol = head.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = head.size();
    std::string_view line = head.substr(pos, eol - pos);
    size_t colon = line.find(':');
    if (colon == name.size()) {
      bool same = true;
      for (size_t i = 0; i < name.size() && same; ++i) {
        same = std::tolower(static_cast<unsigned char>(line[i])) ==
               std::tolower(static_cast<unsigned char>(name[i]));
      }
      if (same) {
        std::string_view v = line.substr(colon + 1);
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
        *value = v;
        return true;
      }
    }
    pos = eol + 2;
  }
  return false;
}

bool ContainsTokenIgnoreCase(std::string_view value, std::string_view token) {
  std::string lower(value);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower.find(token) != std::string::npos;
}

class Worker {
 public:
  Worker(Plan* plan, int connections) : plan_(plan), conns_(connections) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) Die(std::string("epoll_create1: ") + std::strerror(errno));
  }
  ~Worker() {
    for (Conn& conn : conns_) {
      if (conn.fd >= 0) ::close(conn.fd);
    }
    ::close(epoll_fd_);
  }

  void Run() {
    now_ = Clock::now();
    for (size_t idx = 0; idx < conns_.size(); ++idx) Open(idx);
    std::vector<epoll_event> events(256);
    while (true) {
      now_ = Clock::now();
      if (now_ >= plan_->measure_end) break;
      int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 5);
      if (n < 0 && errno != EINTR) Die(std::string("epoll_wait: ") + std::strerror(errno));
      now_ = Clock::now();
      for (int event_idx = 0; event_idx < n; ++event_idx) {
        size_t idx = events[event_idx].data.u64;
        uint32_t ev = events[event_idx].events;
        Conn& conn = conns_[idx];
        if (conn.fd < 0) continue;
        if (conn.state == ConnState::kConnecting) {
          if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) FinishConnect(idx);
          continue;
        }
        if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
          if (!OnReadable(idx)) continue;
        }
        if ((ev & EPOLLOUT) && conns_[idx].state == ConnState::kSending) Send(idx);
      }
      Sweep();
    }
  }

  Stats& stats() { return stats_; }

 private:
  bool Measuring() const { return now_ >= plan_->measure_begin && now_ < plan_->measure_end; }

  void SetInterest(size_t idx, uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = idx;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, conns_[idx].fd, &event);
  }

  void Open(size_t idx) {
    Conn& conn = conns_[idx];
    conn = Conn{};
    int fd = ::socket(plan_->address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) Die(std::string("socket: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&plan_->address), plan_->address_len);
    if (rc != 0 && errno != EINPROGRESS) {
      ::close(fd);
      ConnectFailed(idx);
      return;
    }
    conn.fd = fd;
    conn.state = ConnState::kConnecting;
    conn.deadline = now_ + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(plan_->options.timeout_s));
    epoll_event event{};
    event.events = EPOLLOUT;
    event.data.u64 = idx;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
      Die(std::string("epoll_ctl: ") + std::strerror(errno));
    }
    if (rc == 0) FinishConnect(idx);
  }

  void ConnectFailed(size_t idx) {
    if (Measuring()) ++stats_.connect_errors;
    Conn& conn = conns_[idx];
    conn.fd = -1;
    conn.state = ConnState::kBackoff;
    conn.deadline = now_ + std::chrono::milliseconds(10);
  }

  void FinishConnect(size_t idx) {
    Conn& conn = conns_[idx];
    int error = 0;
    socklen_t len = sizeof(error);
    ::getsockopt(conn.fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0) {
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, conn.fd, nullptr);
      ::close(conn.fd);
      ConnectFailed(idx);
      return;
    }
    ++stats_.connections_opened;
    StartRequest(idx);
  }

  void StartRequest(size_t idx) {
    Conn& conn = conns_[idx];
    conn.out = BuildRequest(*plan_);
    conn.out_off = 0;
    conn.in.clear();
    conn.head_done = false;
    conn.close_announced = false;
    conn.status = 0;
    conn.request_outstanding = true;
    conn.state = ConnState::kSending;
    conn.sent_at = Clock::now();
    conn.deadline = conn.sent_at + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(plan_->options.timeout_s));
    SetInterest(idx, EPOLLIN | EPOLLOUT);
    Send(idx);
  }

  void Send(size_t idx) {
    Conn& conn = conns_[idx];
    while (conn.out_off < conn.out.size()) {
      ssize_t sent = ::send(conn.fd, conn.out.data() + conn.out_off, conn.out.size() - conn.out_off,
                            MSG_NOSIGNAL);
      if (sent > 0) {
        conn.out_off += static_cast<size_t>(sent);
        if (Measuring()) stats_.bytes_sent += static_cast<uint64_t>(sent);
        continue;
      }
      if (sent < 0 && errno == EINTR) continue;
      if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      Dropped(idx);  // EPIPE / ECONNRESET
      return;
    }
    conn.state = ConnState::kReceiving;
    SetInterest(idx, EPOLLIN);
  }

  // Returns false when the connection was closed (and reopened).
  bool OnReadable(size_t idx) {
    Conn& conn = conns_[idx];
    char buffer[64 << 10];
    while (true) {
      ssize_t got = ::recv(conn.fd, buffer, sizeof(buffer), 0);
      if (got > 0) {
        conn.in.append(buffer, static_cast<size_t>(got));
        if (Measuring()) stats_.bytes_received += static_cast<uint64_t>(got);
        if (TryComplete(idx)) return conns_[idx].fd >= 0;
        continue;
      }
      if (got < 0 && errno == EINTR) continue;
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      // EOF or reset.
      Dropped(idx);
      return false;
    }
  }

  // Parses what arrived; on a complete answer records it and sends the next
  // request. Returns true when an answer completed.
  bool TryComplete(size_t idx) {
    Conn& conn = conns_[idx];
    if (!conn.request_outstanding) return false;  // unsolicited bytes: ignored
    if (!conn.head_done) {
      size_t end = conn.in.find("\r\n\r\n");
      if (end == std::string::npos) return false;
      conn.head_len = end + 4;
      std::string_view head(conn.in.data(), end);
      // "HTTP/1.1 200 OK"
      if (head.size() < 12 || head.substr(0, 5) != "HTTP/") Die("malformed status line from server");
      conn.status = std::atoi(std::string(head.substr(9, 3)).c_str());
      size_t first_eol = head.find("\r\n");
      std::string_view fields =
          first_eol == std::string_view::npos ? std::string_view() : head.substr(first_eol + 2);
      std::string_view value;
      conn.content_length = 0;
      if (HeaderEquals(fields, "content-length", &value)) {
        conn.content_length = std::strtoull(std::string(value).c_str(), nullptr, 10);
      } else if (HeaderEquals(fields, "transfer-encoding", &value)) {
        Die("chunked answers are not supported by this load generator");
      }
      conn.close_announced =
          HeaderEquals(fields, "connection", &value) && ContainsTokenIgnoreCase(value, "close");
      conn.head_done = true;
      if (conn.status == 100) {  // interim answer: skip it
        conn.in.erase(0, conn.head_len);
        conn.head_done = false;
        return TryComplete(idx);
      }
    }
    if (conn.in.size() < conn.head_len + conn.content_length) return false;
    Record(conn);
    conn.request_outstanding = false;
    if (conn.close_announced) {
      if (Measuring()) ++stats_.announced_closes;
      Reopen(idx);
      return true;
    }
    if (now_ < plan_->measure_end) StartRequest(idx);
    return true;
  }

  void Record(const Conn& conn) {
    Clock::time_point done = Clock::now();
    if (done < plan_->measure_begin || done >= plan_->measure_end) return;
    ++stats_.requests;
    ++stats_.status_counts[conn.status];
    if (conn.status < 200 || conn.status >= 300) ++stats_.errors;
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(done - conn.sent_at).count();
    stats_.latencies_us.push_back(static_cast<uint32_t>(std::min<int64_t>(us, UINT32_MAX)));
  }

  void Dropped(size_t idx) {
    if (Measuring()) ++stats_.dropped_connections;
    Reopen(idx);
  }

  void Reopen(size_t idx) {
    Conn& conn = conns_[idx];
    if (conn.fd >= 0) {
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, conn.fd, nullptr);
      ::close(conn.fd);
      conn.fd = -1;
    }
    if (now_ < plan_->measure_end) Open(idx);
  }

  void Sweep() {
    for (size_t idx = 0; idx < conns_.size(); ++idx) {
      Conn& conn = conns_[idx];
      if (conn.state == ConnState::kBackoff) {
        if (conn.fd < 0 && now_ >= conn.deadline) Open(idx);
        continue;
      }
      if (now_ < conn.deadline) continue;
      if (conn.state == ConnState::kConnecting) {
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, conn.fd, nullptr);
        ::close(conn.fd);
        ConnectFailed(idx);
        continue;
      }
      if (conn.request_outstanding) {
        if (Measuring()) ++stats_.timeouts;
        Reopen(idx);
      }
    }
  }

  Plan* plan_;
  std::vector<Conn> conns_;
  int epoll_fd_ = -1;
  Stats stats_;
  Clock::time_point now_;
};

double Percentile(const std::vector<uint32_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1] / 1000.0;
}

double Round3(double value) { return std::round(value * 1000.0) / 1000.0; }

}  // namespace

int main(int argc, char** argv) {
  auto plan = std::make_unique<Plan>();
  plan->options = ParseArgs(argc, argv);
  const Options& options = plan->options;

  if (!options.bodies_file.empty()) {
    std::ifstream in(options.bodies_file);
    if (!in) Die("cannot read " + options.bodies_file);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) plan->bodies.push_back(line);
    }
    if (plan->bodies.empty()) Die(options.bodies_file + " has no bodies");
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int gai = ::getaddrinfo(options.host.c_str(), options.port.c_str(), &hints, &found);
  if (gai != 0 || found == nullptr) Die("cannot resolve " + options.host + ": " + ::gai_strerror(gai));
  std::memcpy(&plan->address, found->ai_addr, found->ai_addrlen);
  plan->address_len = found->ai_addrlen;
  ::freeaddrinfo(found);

  std::string host_header = options.host.find(':') != std::string::npos
                                ? "[" + options.host + "]:" + options.port
                                : options.host + ":" + options.port;
  plan->head_prefix = options.method + " " + options.path + " HTTP/1.1\r\nHost: " + host_header +
                      "\r\nUser-Agent: quarry_load_gen\r\nAccept: */*\r\n";
  if (!plan->bodies.empty()) plan->head_prefix += "Content-Type: application/json\r\n";
  for (const std::string& header : options.headers) plan->head_prefix += header + "\r\n";

  auto seconds = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  plan->start = Clock::now();
  plan->measure_begin = plan->start + seconds(options.warmup_s);
  plan->measure_end = plan->measure_begin + seconds(options.duration_s);

  std::vector<std::unique_ptr<Worker>> workers;
  for (int thread_idx = 0; thread_idx < options.threads; ++thread_idx) {
    int share = options.clients / options.threads + (thread_idx < options.clients % options.threads);
    workers.push_back(std::make_unique<Worker>(plan.get(), share));
  }
  std::vector<std::thread> threads;
  for (auto& worker : workers) threads.emplace_back([&worker] { worker->Run(); });
  for (auto& thread : threads) thread.join();

  Stats total;
  for (auto& worker : workers) {
    Stats& s = worker->stats();
    total.latencies_us.insert(total.latencies_us.end(), s.latencies_us.begin(), s.latencies_us.end());
    for (const auto& [status, count] : s.status_counts) total.status_counts[status] += count;
    total.requests += s.requests;
    total.errors += s.errors;
    total.dropped_connections += s.dropped_connections;
    total.announced_closes += s.announced_closes;
    total.timeouts += s.timeouts;
    total.connect_errors += s.connect_errors;
    total.connections_opened += s.connections_opened;
    total.bytes_sent += s.bytes_sent;
    total.bytes_received += s.bytes_received;
  }
  std::sort(total.latencies_us.begin(), total.latencies_us.end());
  double sum_ms = 0;
  for (uint32_t us : total.latencies_us) sum_ms += us / 1000.0;

  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  double cpu_s = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                 static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;

  json statuses = json::object();
  for (const auto& [status, count] : total.status_counts) statuses[std::to_string(status)] = count;
  json out = {
      {"route", options.label},
      {"tool", "quarry_load_gen"},
      {"clients", options.clients},
      {"threads", options.threads},
      {"duration_s", options.duration_s},
      {"warmup_s", options.warmup_s},
      {"timeout_s", options.timeout_s},
      {"bodies", plan->bodies.size()},
      {"requests", total.requests},
      {"errors", total.errors},
      {"dropped_connections", total.dropped_connections},
      {"timeouts", total.timeouts},
      {"connect_errors", total.connect_errors},
      {"announced_closes", total.announced_closes},
      {"connections_opened", total.connections_opened},
      {"status_counts", statuses},
      {"qps", Round3(static_cast<double>(total.requests) / options.duration_s)},
      {"ok_qps", Round3(static_cast<double>(total.requests - total.errors) / options.duration_s)},
      {"mean_ms", Round3(total.latencies_us.empty() ? 0 : sum_ms / total.latencies_us.size())},
      {"p50_ms", Round3(Percentile(total.latencies_us, 0.50))},
      {"p90_ms", Round3(Percentile(total.latencies_us, 0.90))},
      {"p99_ms", Round3(Percentile(total.latencies_us, 0.99))},
      {"p999_ms", Round3(Percentile(total.latencies_us, 0.999))},
      {"max_ms", Round3(total.latencies_us.empty() ? 0 : total.latencies_us.back() / 1000.0)},
      {"mb_sent", Round3(total.bytes_sent / 1e6)},
      {"mb_received", Round3(total.bytes_received / 1e6)},
      {"loadgen_cpu_s", Round3(cpu_s)},
  };
  std::cout << out.dump() << std::endl;
  return 0;
}
