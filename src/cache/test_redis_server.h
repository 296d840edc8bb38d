// Test helpers: a real redis-server child process on a free loopback port, and
// a fake server that answers every read with fixed bytes.
//
// The child gets PR_SET_PDEATHSIG, so even a crashed test binary never leaves
// a server behind; the destructor kills and reaps it.
//
// Thread-safety: one owner thread per object (FakeRedisServer runs its own
// thread internally).
#ifndef QUARRY_CACHE_TEST_REDIS_SERVER_H_
#define QUARRY_CACHE_TEST_REDIS_SERVER_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace quarry::cache::testing {

// A loopback TCP port that was free a moment ago (bound to port 0, then closed).
inline int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

class RedisServerProcess {
 public:
  RedisServerProcess() = default;
  ~RedisServerProcess() {
    Kill();
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }
  RedisServerProcess(const RedisServerProcess&) = delete;
  RedisServerProcess& operator=(const RedisServerProcess&) = delete;

  // redis-server from PATH or the usual places; "" when not installed.
  static std::string FindBinary() {
    std::vector<std::string> dirs;
    if (const char* path = std::getenv("PATH")) {
      std::stringstream ss(path);
      std::string dir;
      while (std::getline(ss, dir, ':')) {
        if (!dir.empty()) dirs.push_back(dir);
      }
    }
    dirs.push_back("/usr/bin");
    dirs.push_back("/usr/local/bin");
    dirs.push_back("/usr/sbin");
    for (const std::string& dir : dirs) {
      std::string candidate = dir + "/redis-server";
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return "";
  }

  // Starts a server (port 0: a free one, retried on a clash) with `extra`
  // arguments, and waits until it answers. False with *error when it cannot.
  bool Start(int port, const std::vector<std::string>& extra, std::string* error) {
    binary_ = FindBinary();
    if (binary_.empty()) {
      *error = "redis-server not found";
      return false;
    }
    extra_ = extra;
    if (dir_.empty()) {
      std::string tmpl = (std::filesystem::temp_directory_path() / "quarry_redis_XXXXXX").string();
      if (::mkdtemp(tmpl.data()) == nullptr) {
        *error = "mkdtemp failed";
        return false;
      }
      dir_ = tmpl;
    }
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = port != 0 ? port : FreeLoopbackPort();
      if (Spawn(error) && WaitReady(error)) return true;
      Kill();
      if (port != 0 && attempt >= 2) break;  // a fixed port: retry a little (TIME_WAIT, slow exit)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // Starts again on the same port (after Kill).
  bool Restart(std::string* error) { return Start(port_, extra_, error); }

  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  void Pause() { if (pid_ > 0) ::kill(pid_, SIGSTOP); }
  void Resume() { if (pid_ > 0) ::kill(pid_, SIGCONT); }

  int port() const { return port_; }
  std::string url(const std::string& userinfo = "", int db = 0) const {
    std::string out = "redis://" + userinfo + "127.0.0.1:" + std::to_string(port_);
    if (db != 0) out += "/" + std::to_string(db);
    return out;
  }

 private:
  bool Spawn(std::string* error) {
    std::vector<std::string> args = {binary_,        "--port",       std::to_string(port_),
                                     "--bind",       "127.0.0.1",    "--save",
                                     "",             "--appendonly", "no",
                                     "--dir",        dir_,           "--daemonize",
                                     "no",           "--logfile",    dir_ + "/redis.log",
                                     "--loglevel",   "warning"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
      *error = "fork failed";
      return false;
    }
    if (pid == 0) {
      // Child: only async-signal-safe calls until exec.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      int devnull = ::open("/dev/null", O_RDWR);
      if (devnull >= 0) {
        ::dup2(devnull, 0);
        ::dup2(devnull, 1);
        ::dup2(devnull, 2);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pid_ = pid;
    return true;
  }

  bool WaitReady(std::string* error) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        *error = "redis-server exited at start: " + LogTail();
        return false;
      }
      timeval tv{0, 200 * 1000};
      redisContext* ctx = redisConnectWithTimeout("127.0.0.1", port_, tv);
      if (ctx != nullptr && ctx->err == 0) {
        redisSetTimeout(ctx, tv);
        void* reply = redisCommand(ctx, "PING");
        if (reply != nullptr) {  // PONG, or -NOAUTH with requirepass: it answers
          freeReplyObject(reply);
          redisFree(ctx);
          return true;
        }
      }
      if (ctx != nullptr) redisFree(ctx);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    *error = "redis-server did not answer PING within 15 s: " + LogTail();
    return false;
  }

  std::string LogTail() const {
    std::ifstream in(dir_ + "/redis.log");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string log = ss.str();
    return log.size() > 500 ? log.substr(log.size() - 500) : log;
  }

  std::string binary_;
  std::vector<std::string> extra_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// Accepts connections on a loopback port and answers each chunk read with
// `reply` (garbage, or a well-formed reply of the wrong type); with
// `close_at_once`, closes every connection as soon as it is accepted.
class FakeRedisServer {
 public:
  explicit FakeRedisServer(std::string reply, bool close_at_once = false)
      : reply_(std::move(reply)), close_at_once_(close_at_once) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (listen_fd_ >= 0 &&
        ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        ::listen(listen_fd_, 16) == 0 &&
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
      thread_ = std::thread([this] { Loop(); });
    }
  }
  ~FakeRedisServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (int fd : clients_) ::close(fd);
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }
  FakeRedisServer(const FakeRedisServer&) = delete;
  FakeRedisServer& operator=(const FakeRedisServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_.load(); }

 private:
  void Loop() {
    while (!stop_) {
      std::vector<pollfd> fds;
      fds.push_back({listen_fd_, POLLIN, 0});
      for (int fd : clients_) fds.push_back({fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      std::vector<int> alive;
      if (fds[0].revents & POLLIN) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0 && close_at_once_) {
          ++requests_;
          ::close(fd);
        } else if (fd >= 0) {
          alive.push_back(fd);
        }
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        const int fd = fds[i].fd;
        if (fds[i].revents == 0) {
          alive.push_back(fd);
          continue;
        }
        char buf[4096];
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
          ::close(fd);
          continue;
        }
        ++requests_;
        ssize_t ignored = ::send(fd, reply_.data(), reply_.size(), MSG_NOSIGNAL);
        (void)ignored;
        alive.push_back(fd);
      }
      clients_ = alive;
    }
  }

  std::string reply_;
  const bool close_at_once_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::vector<int> clients_;  // owned by the thread while it runs
  std::thread thread_;
};

}  // namespace quarry::cache::testing

#endif  // QUARRY_CACHE_TEST_REDIS_SERVER_H_
