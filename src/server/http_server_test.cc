// The server core against a real loopback socket: keep-alive, pipelining,
// limits, overload, timeouts, concurrency, graceful stop.
#include "server/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "server/test_http_client.h"

namespace quarry::server {
namespace {

using testing::ClientResponse;
using testing::TestClient;
using namespace std::chrono_literals;

// A gate the slow handler waits on.
class Gate {
 public:
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void Start(ServerOptions options = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    if (options.workers == 0) options.workers = 4;
    options.on_access = [this](const AccessRecord& record) {
      std::lock_guard lock(access_mu_);
      statuses_.push_back(record.status);
    };
    auto server = HttpServer::Start(options, [this](HttpRequest& request) {
      return Handle(request);
    });
    ASSERT_TRUE(server.ok()) << server.status().message();
    server_ = std::move(server).value();
    port_ = server_->port();
  }
  void TearDown() override {
    gate_.Open();
    if (server_) server_->Stop();
  }

  HttpResponse Handle(HttpRequest& request) {
    HttpResponse response;
    response.route = request.path;
    if (request.path == "/slow") {
      ++slow_started_;
      gate_.Wait();
    } else if (request.path == "/sleep") {
      std::this_thread::sleep_for(500ms);
    } else if (request.path == "/throw") {
      throw std::runtime_error("boom");
    }
    response.body = nlohmann::json({{"method", request.method},
                                    {"path", request.path},
                                    {"body", request.body}})
                        .dump();
    return response;
  }

  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
  Gate gate_;
  std::atomic<int> slow_started_{0};
  std::mutex access_mu_;
  std::vector<int> statuses_;
};

TEST_F(HttpServerTest, KeepAliveManyRequestsOnOneConnection) {
  Start();
  TestClient client(port_);
  ASSERT_TRUE(client.Connect());
  for (int request_idx = 0; request_idx < 200; ++request_idx) {
    std::string body = "n=" + std::to_string(request_idx);
    auto response = client.Request("POST", "/echo", body);
    ASSERT_TRUE(response) << request_idx;
    ASSERT_EQ(response->status, 200);
    EXPECT_EQ(response->Header("connection"), "keep-alive");
    EXPECT_EQ(response->Json()["body"], body);
  }
  EXPECT_EQ(server_->stats().accepted_connections, 1u);
}

TEST_F(HttpServerTest, PipelinedRequestsAnsweredInOrder) {
  Start();
  TestClient client(port_);
  ASSERT_TRUE(client.Connect());
  std::string batch;
  for (int request_idx = 0; request_idx < 50; ++request_idx) {
    batch += TestClient::Format("POST", "/p" + std::to_string(request_idx), std::to_string(request_idx));
  }
  // Sent in odd-sized pieces so requests straddle reads.
  for (size_t off = 0; off < batch.size(); off += 97) {
    ASSERT_TRUE(client.SendRaw(std::string_view(batch).substr(off, 97)));
  }
  for (int request_idx = 0; request_idx < 50; ++request_idx) {
    auto response = client.ReadResponse();
    ASSERT_TRUE(response) << request_idx;
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->Json()["path"], "/p" + std::to_string(request_idx));
  }
}

TEST_F(HttpServerTest, PipelinedThenHalfCloseStillAnswersAll) {
  Start();
  TestClient client(port_);
  ASSERT_TRUE(client.Connect());
  std::string batch;
  for (int request_idx = 0; request_idx < 5; ++request_idx) batch += TestClient::Format("GET", "/h");
  ASSERT_TRUE(client.SendRaw(batch));
  client.ShutdownWrite();
  for (int request_idx = 0; request_idx < 5; ++request_idx) {
    auto response = client.ReadResponse();
    ASSERT_TRUE(response) << request_idx;
    EXPECT_EQ(response->status, 200);
  }
  EXPECT_TRUE(client.WaitClosed());
}

TEST_F(HttpServerTest, ByteByByteRequest) {
  Start();
  TestClient client(port_);
  ASSERT_TRUE(client.Connect());
  std::string request = TestClient::Format("POST", "/bytes", "{\"a\":1}");
  for (char c : request) ASSERT_TRUE(client.SendRaw(std::string_view(&c, 1)));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->Json()["body"], "{\"a\":1}");
}

TEST_F(HttpServerTest, Http10AndConnectionClose) {
  Start();
  {
    TestClient client(port_);
    ASSERT_TRUE(client.SendRaw("GET /old HTTP/1.0\r\n\r\n"));
    auto response = client.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->Header("connection"), "close");
    EXPECT_TRUE(client.WaitClosed());
  }
  {
    TestClient client(port_);
    auto response = client.Request("GET", "/x", "", {"Connection: close"});
    ASSERT_TRUE(response);
    EXPECT_EQ(response->Header("connection"), "close");
    EXPECT_TRUE(client.WaitClosed());
  }
}

TEST_F(HttpServerTest, HeadHasNoBody) {
  Start();
  TestClient client(port_);
  auto response = client.Request("HEAD", "/x");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_NE(response->Header("content-length"), "0");
  // The connection is still in sync: another request works.
  auto next = client.Request("GET", "/y");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->Json()["path"], "/y");
}

TEST_F(HttpServerTest, ProtocolErrorsGetJsonAndClose) {
  ServerOptions options;
  options.limits.max_body_bytes = 1000;
  options.limits.max_header_bytes = 2048;
  Start(options);
  struct Case {
    std::string bytes;
    int status;
  };
  std::vector<Case> cases = {
      {"BAD\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", 413},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 411},
      {"GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(3000, 'x') + "\r\n\r\n", 431},
      {"GET /" + std::string(3000, 'x') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
  };
  for (const Case& c : cases) {
    TestClient client(port_);
    ASSERT_TRUE(client.SendRaw(c.bytes));
    auto response = client.ReadResponse();
    ASSERT_TRUE(response) << c.bytes.substr(0, 40);
    EXPECT_EQ(response->status, c.status) << c.bytes.substr(0, 40);
    auto json = response->Json();
    ASSERT_TRUE(json.is_object()) << response->body;
    EXPECT_TRUE(json["status"]["error"].is_string()) << response->body;
    EXPECT_EQ(response->Header("connection"), "close");
    EXPECT_TRUE(client.WaitClosed());
  }
  // A body larger than the limit is refused before it is sent.
  TestClient big(port_);
  ASSERT_TRUE(big.SendRaw("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000000\r\n\r\n"));
  auto response = big.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
}

TEST_F(HttpServerTest, ExpectContinue) {
  Start();
  TestClient client(port_);
  ASSERT_TRUE(client.SendRaw(
      "POST /c HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
  // The interim response arrives before the body is sent.
  ASSERT_TRUE(client.ConsumeUntil("HTTP/1.1 100 Continue\r\n\r\n"));
  ASSERT_TRUE(client.SendRaw("abcd"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Json()["body"], "abcd");
}

TEST_F(HttpServerTest, HandlerExceptionBecomes500) {
  Start();
  TestClient client(port_);
  auto response = client.Request("GET", "/throw");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  EXPECT_NE(response->body.find("boom"), std::string::npos);
  auto next = client.Request("GET", "/ok");  // connection still usable
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST_F(HttpServerTest, FullQueueAnswers503AtOnce) {
  ServerOptions options;
  options.workers = 1;
  options.queue_capacity = 1;
  Start(options);
  TestClient running(port_);
  TestClient queued(port_);
  TestClient rejected(port_);
  ASSERT_TRUE(running.SendRaw(TestClient::Format("GET", "/slow")));
  for (int wait = 0; wait < 500 && slow_started_.load() == 0; ++wait) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(slow_started_.load(), 1);
  ASSERT_TRUE(queued.SendRaw(TestClient::Format("GET", "/slow")));
  for (int wait = 0; wait < 500 && server_->stats().queued == 0; ++wait) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(server_->stats().queued, 1u);
  auto start = std::chrono::steady_clock::now();
  auto response = rejected.Request("GET", "/slow");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(response->Header("retry-after"), "1");
  EXPECT_TRUE(response->Json()["status"]["error"].get<std::string>().find("queue is full") !=
              std::string::npos);
  EXPECT_EQ(server_->stats().rejected_overload, 1u);
  // The rejected connection stays usable; the held ones finish once released.
  gate_.Open();
  auto first = running.ReadResponse();
  auto second = queued.ReadResponse();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(second->status, 200);
  auto again = rejected.Request("GET", "/fine");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
}

TEST_F(HttpServerTest, RequestTimeout) {
  ServerOptions options;
  options.request_timeout = 150ms;
  Start(options);
  TestClient client(port_);
  auto start = std::chrono::steady_clock::now();
  auto response = client.Request("GET", "/slow");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_NE(response->body.find("timed out"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_TRUE(client.WaitClosed());
  gate_.Open();
}

TEST_F(HttpServerTest, ReadAndIdleTimeouts) {
  ServerOptions options;
  options.read_timeout = 200ms;
  options.idle_timeout = 300ms;
  Start(options);
  TestClient partial(port_);
  ASSERT_TRUE(partial.SendRaw("GET / HTTP/1.1\r\nHost: a\r\n"));
  auto response = partial.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 408);
  EXPECT_TRUE(partial.WaitClosed());

  TestClient idle(port_);
  ASSERT_TRUE(idle.Connect());
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(idle.WaitClosed());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_F(HttpServerTest, TwoHundredConcurrentKeepAliveClients) {
  ServerOptions options;
  options.workers = 4;
  options.queue_capacity = 1024;
  Start(options);
  constexpr int kClients = 200;
  constexpr int kRequests = 20;
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int client_idx = 0; client_idx < kClients; ++client_idx) {
    threads.emplace_back([&, client_idx] {
      TestClient client(port_);
      if (!client.Connect()) {
        failed += kRequests;
        return;
      }
      for (int request_idx = 0; request_idx < kRequests; ++request_idx) {
        std::string body = std::to_string(client_idx) + ":" + std::to_string(request_idx);
        auto response = client.Request("POST", "/c", body);
        if (response && response->status == 200 && response->Json()["body"] == body) {
          ++ok;
        } else {
          ++failed;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(ok.load(), kClients * kRequests);
  EXPECT_EQ(server_->stats().accepted_connections, static_cast<uint64_t>(kClients));
}

TEST_F(HttpServerTest, GracefulStopFinishesInFlightRequest) {
  Start();
  TestClient busy(port_);
  TestClient idle(port_);
  ASSERT_TRUE(idle.Connect());
  ASSERT_TRUE(idle.Request("GET", "/warm"));
  ASSERT_TRUE(busy.SendRaw(TestClient::Format("POST", "/sleep", "payload")));
  std::this_thread::sleep_for(100ms);  // the request is with a worker
  auto start = std::chrono::steady_clock::now();
  std::thread stopper([&] { server_->Stop(); });
  auto response = busy.ReadResponse();
  stopper.join();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Json()["body"], "payload");
  EXPECT_EQ(response->Header("connection"), "close");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_TRUE(idle.WaitClosed());
  TestClient late(port_);
  EXPECT_FALSE(late.Connect());  // no longer listening
  std::lock_guard lock(access_mu_);
  EXPECT_FALSE(statuses_.empty());
}

}  // namespace
}  // namespace quarry::server
