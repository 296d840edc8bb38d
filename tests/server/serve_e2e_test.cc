// End-to-end tests of `quarry serve`: start the binary, talk HTTP to it, stop
// it with a signal, start it again on the same data.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "server/test_http_client.h"

namespace {

using nlohmann::json;
using quarry::server::testing::TestClient;
using namespace std::chrono_literals;

const std::string kQuarry = std::string(QUARRY_BINARY_DIR) + "/quarry";

struct Running {
  pid_t pid = -1;
  int stdout_fd = -1;
  uint16_t port = 0;
  std::string first_line;
};

class ServeE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("quarry_serve_e2e_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    data_ = (dir_ / "data").string();
  }
  void TearDown() override {
    for (pid_t pid : children_) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }

  // Starts `quarry serve ARGS`; stdout is a pipe we read the address from,
  // stderr goes to dir_/stderr.
  Running Start(const std::vector<std::string>& args, bool quiet = true) {
    int pipe_fds[2];
    EXPECT_EQ(::pipe(pipe_fds), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(pipe_fds[1], 1);
      ::close(pipe_fds[0]);
      ::close(pipe_fds[1]);
      int err = ::open((dir_ / "stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(err, 2);
      std::vector<std::string> all = {kQuarry, "serve"};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& arg : all) argv.push_back(const_cast<char*>(arg.c_str()));
      argv.push_back(nullptr);
      if (quiet) {
        ::setenv("QUARRY_LOG", "quiet", 1);
      } else {
        ::unsetenv("QUARRY_LOG");
      }
      ::execv(kQuarry.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(pipe_fds[1]);
    children_.push_back(pid);
    Running running;
    running.pid = pid;
    running.stdout_fd = pipe_fds[0];
    // Wait for "quarry: listening on http://127.0.0.1:PORT".
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{running.stdout_fd, POLLIN, 0};
      if (::poll(&pfd, 1, 200) <= 0) continue;
      char buf[256];
      ssize_t n = ::read(running.stdout_fd, buf, sizeof(buf));
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    running.first_line = line;
    size_t colon = line.rfind(':');
    if (line.find("listening on http://") != std::string::npos && colon != std::string::npos) {
      running.port = static_cast<uint16_t>(std::stoi(line.substr(colon + 1)));
    }
    return running;
  }

  // Sends `signal` and returns the exit code (-1 if it did not exit in time).
  int StopWith(Running& running, int signal) {
    ::kill(running.pid, signal);
    return Wait(running);
  }

  int Wait(Running& running) {
    auto deadline = std::chrono::steady_clock::now() + 60s;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      pid_t done = ::waitpid(running.pid, &status, WNOHANG);
      if (done == running.pid) {
        std::erase(children_, running.pid);
        ::close(running.stdout_fd);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(20ms);
    }
    return -1;
  }

  std::string Stderr() {
    std::ifstream in(dir_ / "stderr");
    std::stringstream buf;
    buf << in.rdbuf();
    return buf.str();
  }

  std::filesystem::path dir_;
  std::string data_;
  std::vector<pid_t> children_;
};

TEST_F(ServeE2eTest, ServesStopsOnSigtermAndKeepsAcknowledgedWrites) {
  Running server = Start({"--port", "0", "--data", data_, "--workers", "2"}, /*quiet=*/false);
  ASSERT_NE(server.port, 0) << server.first_line << Stderr();
  EXPECT_NE(server.first_line.find("http://127.0.0.1:"), std::string::npos);  // loopback by default
  TestClient client(server.port);
  ASSERT_EQ(client.Request("PUT", "/collections/docs", "{}")->status, 200);

  // A large upsert; SIGTERM arrives while it is (likely) still running, and it
  // must still be answered and durable.
  json docs = {{"documents", json::array()}};
  for (int doc_idx = 0; doc_idx < 1000; ++doc_idx) {
    std::string text = "Document number " + std::to_string(doc_idx) + " talks about lighthouse keepers";
    for (int rep = 0; rep < 40; ++rep) text += " and the sea number " + std::to_string(rep);
    docs["documents"].push_back({{"id", "doc-" + std::to_string(doc_idx)}, {"text", text}});
  }
  TestClient writer(server.port, 120s);
  ASSERT_TRUE(writer.SendRaw(TestClient::Format("POST", "/collections/docs/documents", docs.dump())));
  std::this_thread::sleep_for(50ms);
  ::kill(server.pid, SIGTERM);
  auto response = writer.ReadResponse();
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200) << response->body;
  EXPECT_EQ(response->Json()["result"]["added"], 1000);
  EXPECT_EQ(Wait(server), 0) << Stderr();

  // Structured access log: one JSON object per request.
  std::istringstream log(Stderr());
  std::string line;
  int access_lines = 0;
  while (std::getline(log, line)) {
    if (line.empty() || line[0] != '{') continue;
    json record = json::parse(line, nullptr, false);
    ASSERT_TRUE(record.is_object()) << line;
    EXPECT_TRUE(record["status"].is_number());
    EXPECT_TRUE(record["duration_ms"].is_number());
    EXPECT_TRUE(record["path"].is_string());
    ++access_lines;
  }
  EXPECT_EQ(access_lines, 2);

  // Everything acknowledged is there after a restart.
  Running again = Start({"--port", "0", "--data", data_});
  ASSERT_NE(again.port, 0) << again.first_line << Stderr();
  TestClient reader(again.port);
  auto stats = reader.Request("GET", "/collections/docs/stats");
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->Json()["result"]["documents"], 1000);
  auto search = reader.Request("POST", "/collections/docs/search", R"({"query": "lighthouse keepers", "limit": 3})");
  ASSERT_TRUE(search);
  EXPECT_EQ(search->Json()["result"]["hits"].size(), 3u);
  EXPECT_EQ(StopWith(again, SIGINT), 0);
}

TEST_F(ServeE2eTest, ApiKeyFlags) {
  Running server = Start({"--port", "0", "--data", data_, "--api-key", "k1", "--read-only-api-key", "k2"});
  ASSERT_NE(server.port, 0) << server.first_line << Stderr();
  TestClient client(server.port);
  EXPECT_EQ(client.Request("GET", "/collections")->status, 401);
  EXPECT_EQ(client.Request("GET", "/collections", "", {"api-key: k2"})->status, 200);
  EXPECT_EQ(client.Request("PUT", "/collections/a", "{}", {"api-key: k2"})->status, 403);
  EXPECT_EQ(client.Request("PUT", "/collections/a", "{}", {"Authorization: Bearer k1"})->status, 200);
  EXPECT_EQ(StopWith(server, SIGTERM), 0);
}

TEST_F(ServeE2eTest, StartupErrors) {
  Running missing_model = Start({"--port", "0", "--data", data_, "--model", (dir_ / "nope").string()});
  EXPECT_EQ(missing_model.port, 0);
  EXPECT_EQ(Wait(missing_model), 1);
  EXPECT_NE(Stderr().find("quarry: error:"), std::string::npos);

  Running first = Start({"--port", "0", "--data", data_});
  ASSERT_NE(first.port, 0);
  Running second = Start({"--port", std::to_string(first.port), "--data", (dir_ / "other").string()});
  EXPECT_EQ(second.port, 0);
  EXPECT_EQ(Wait(second), 1);
  EXPECT_NE(Stderr().find("cannot listen"), std::string::npos);
  EXPECT_EQ(StopWith(first, SIGTERM), 0);

  Running bad_flag = Start({"--port", "70000"});
  EXPECT_EQ(Wait(bad_flag), 2);
}

TEST_F(ServeE2eTest, ServesLocalModels) {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 with numpy is needed to generate tiny models";
  }
  std::string tool = std::string(QUARRY_SOURCE_DIR) + "/tools/make_tiny_model.py";
  for (const char* preset : {"tiny-bert", "tiny-bert-ce"}) {
    std::string command = "/usr/bin/python3 " + tool + " --out " + (dir_ / preset).string() +
                          " --preset " + preset + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  Running server = Start({"--port", "0", "--data", data_, "--model", (dir_ / "tiny-bert").string(),
                          "--model", (dir_ / "tiny-bert-ce").string(), "--workers", "2"});
  ASSERT_NE(server.port, 0) << server.first_line << Stderr();
  TestClient client(server.port);
  auto models = client.Request("GET", "/v1/models");
  ASSERT_TRUE(models);
  ASSERT_EQ(models->Json()["data"].size(), 2u) << models->body;
  EXPECT_EQ(models->Json()["data"][0]["id"], "tiny-bert");
  EXPECT_EQ(models->Json()["data"][1]["type"], "rerank");  // detected from config.json
  auto embeddings = client.Request("POST", "/v1/embeddings", R"({"input": ["hello world", "sea"]})");
  ASSERT_TRUE(embeddings);
  ASSERT_EQ(embeddings->status, 200) << embeddings->body;
  EXPECT_EQ(embeddings->Json()["data"].size(), 2u);
  EXPECT_GT(embeddings->Json()["usage"]["prompt_tokens"].get<int>(), 4);
  // Token ids: one array, or one per input; usage counts them.
  auto tokens = client.Request("POST", "/v1/embeddings", R"({"input": [[5, 6, 7], [8]]})");
  ASSERT_TRUE(tokens);
  ASSERT_EQ(tokens->status, 200) << tokens->body;
  EXPECT_EQ(tokens->Json()["data"].size(), 2u);
  EXPECT_EQ(tokens->Json()["data"][0]["embedding"].size(), embeddings->Json()["data"][0]["embedding"].size());
  EXPECT_EQ(tokens->Json()["usage"]["prompt_tokens"], 4);
  auto outside = client.Request("POST", "/v1/embeddings", R"({"input": [5, 2000000000]})");
  ASSERT_TRUE(outside);
  EXPECT_EQ(outside->status, 400) << outside->body;
  EXPECT_NE(outside->body.find("outside the vocabulary"), std::string::npos) << outside->body;
  auto rerank = client.Request("POST", "/rerank", R"({"query": "sea", "texts": ["the sea", "a hill"]})");
  ASSERT_TRUE(rerank);
  EXPECT_EQ(rerank->status, 200) << rerank->body;
  EXPECT_EQ(StopWith(server, SIGINT), 0);
}

}  // namespace
