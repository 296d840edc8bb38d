// A small blocking HTTP/1.1 client for tests: raw bytes in, parsed responses
// out (Content-Length framing, interim 100 responses skipped), with timeouts.
//
// Thread-safety: one client per thread.
#ifndef QUARRY_SERVER_TEST_HTTP_CLIENT_H_
#define QUARRY_SERVER_TEST_HTTP_CLIENT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quarry::server::testing {

struct ClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;

  std::string Header(std::string_view lower_name) const {
    for (const auto& [name, value] : headers) {
      if (name == lower_name) return value;
    }
    return "";
  }
  nlohmann::json Json() const { return nlohmann::json::parse(body, nullptr, false); }
};

class TestClient {
 public:
  explicit TestClient(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(20))
      : port_(port), timeout_(timeout) {}
  ~TestClient() { Close(); }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  bool Connect() {
    Close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      Close();
      return false;
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    buffer_.clear();
    return true;
  }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool connected() const { return fd_ >= 0; }

  bool SendRaw(std::string_view bytes) {
    if (fd_ < 0 && !Connect()) return false;
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  void ShutdownWrite() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
  }

  // Reads one final response. nullopt on timeout or when the connection
  // closes first.
  std::optional<ClientResponse> ReadResponse(bool head = false) {
    while (true) {
      size_t end = buffer_.find("\r\n\r\n");
      while (end == std::string::npos) {
        if (!Fill()) return std::nullopt;
        end = buffer_.find("\r\n\r\n");
      }
      ClientResponse response;
      std::string head_text = buffer_.substr(0, end);
      buffer_.erase(0, end + 4);
      size_t line_end = head_text.find("\r\n");
      std::string status_line = head_text.substr(0, line_end);
      if (status_line.size() < 12 || status_line.compare(0, 5, "HTTP/") != 0) return std::nullopt;
      response.status = std::atoi(status_line.c_str() + 9);
      size_t pos = line_end == std::string::npos ? head_text.size() : line_end + 2;
      while (pos < head_text.size()) {
        size_t next = head_text.find("\r\n", pos);
        if (next == std::string::npos) next = head_text.size();
        std::string line = head_text.substr(pos, next - pos);
        size_t colon = line.find(':');
        if (colon != std::string::npos) {
          std::string name = line.substr(0, colon);
          for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          size_t value_start = line.find_first_not_of(' ', colon + 1);
          response.headers.emplace_back(
              name, value_start == std::string::npos ? "" : line.substr(value_start));
        }
        pos = next + 2;
      }
      if (response.status == 100) continue;  // interim
      size_t length = 0;
      std::string length_text = response.Header("content-length");
      if (!length_text.empty()) length = std::stoull(length_text);
      if (head) length = 0;
      while (buffer_.size() < length) {
        if (!Fill()) return std::nullopt;
      }
      response.body = buffer_.substr(0, length);
      buffer_.erase(0, length);
      return response;
    }
  }

  std::optional<ClientResponse> Request(const std::string& method, const std::string& path,
                                        const std::string& body = "",
                                        const std::vector<std::string>& extra_headers = {}) {
    if (fd_ < 0 && !Connect()) return std::nullopt;
    if (!SendRaw(Format(method, path, body, extra_headers))) return std::nullopt;
    return ReadResponse(method == "HEAD");
  }

  static std::string Format(const std::string& method, const std::string& path,
                            const std::string& body = "",
                            const std::vector<std::string>& extra_headers = {}) {
    std::string request = method + " " + path + " HTTP/1.1\r\nHost: localhost\r\n";
    for (const auto& header : extra_headers) request += header + "\r\n";
    if (!body.empty() || method == "POST" || method == "PUT") {
      request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                 "\r\n";
    }
    request += "\r\n" + body;
    return request;
  }

  // Reads until `marker` has arrived and drops everything up to and including
  // it. False on timeout or close.
  bool ConsumeUntil(std::string_view marker) {
    size_t at = buffer_.find(marker);
    while (at == std::string::npos) {
      if (!Fill()) return false;
      at = buffer_.find(marker);
    }
    buffer_.erase(0, at + marker.size());
    return true;
  }

  // True when the server closes the connection (EOF or reset) within the timeout.
  bool WaitClosed() {
    while (true) {
      if (fd_ < 0) return true;
      pollfd pfd{fd_, POLLIN, 0};
      int ready = ::poll(&pfd, 1, static_cast<int>(timeout_.count()));
      if (ready <= 0) return false;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return true;
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  bool Fill() {
    if (fd_ < 0) return false;
    pollfd pfd{fd_, POLLIN, 0};
    int ready = ::poll(&pfd, 1, static_cast<int>(timeout_.count()));
    if (ready <= 0) return false;
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<size_t>(n));
    return true;
  }

  uint16_t port_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace quarry::server::testing

#endif  // QUARRY_SERVER_TEST_HTTP_CLIENT_H_
