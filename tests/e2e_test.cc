// End-to-end tests: run the real `quarry` binary on real files.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cache/test_redis_server.h"

namespace {

const std::string kQuarry = std::string(QUARRY_BINARY_DIR) + "/quarry";

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  nlohmann::json Json() const { return nlohmann::json::parse(out, nullptr, false); }
};

std::string Slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

class E2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("quarry_e2e_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    data_ = (dir_ / "data").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Starts quarry with stdout/stderr to files; `fsize_limit` > 0 caps file sizes.
  pid_t Start(const std::vector<std::string>& args, rlim_t fsize_limit = 0) {
    pid_t pid = ::fork();
    if (pid == 0) {
      int out = ::open((dir_ / "stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = ::open((dir_ / "stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(out, 1);
      ::dup2(err, 2);
      if (fsize_limit > 0) {
        struct rlimit limit = {fsize_limit, fsize_limit};
        ::setrlimit(RLIMIT_FSIZE, &limit);
        ::signal(SIGXFSZ, SIG_IGN);
      }
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(kQuarry.c_str()));
      for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
      argv.push_back(nullptr);
      ::setenv("QUARRY_LOG", "quiet", 1);
      ::execv(kQuarry.c_str(), argv.data());
      ::_exit(127);
    }
    return pid;
  }
  RunResult Wait(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    RunResult result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.out = Slurp(dir_ / "stdout");
    result.err = Slurp(dir_ / "stderr");
    return result;
  }
  RunResult Run(std::vector<std::string> args, rlim_t fsize_limit = 0) {
    return Wait(Start(args, fsize_limit));
  }
  void Write(const std::filesystem::path& path, std::string_view text) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
  }
  // A BEIR-style JSONL corpus where document k holds the unique word "uq<k>x".
  std::filesystem::path MakeCorpus(size_t docs) {
    auto path = dir_ / "corpus.jsonl";
    std::ofstream out(path);
    std::mt19937 rng(7);
    const char* words[] = {"storage", "engine", "vector", "search", "query", "index", "shard",
                           "replica", "segment", "merge", "token", "filter"};
    for (size_t doc_idx = 0; doc_idx < docs; ++doc_idx) {
      std::string text;
      for (int w = 0; w < 60; ++w) text += std::string(words[rng() % 12]) + " ";
      text += "uq" + std::to_string(doc_idx) + "x";
      out << nlohmann::json({{"_id", "doc" + std::to_string(doc_idx)},
                             {"title", "Doc " + std::to_string(doc_idx)},
                             {"text", text}})
                 .dump()
          << "\n";
    }
    return path;
  }

  std::filesystem::path dir_;
  std::string data_;
};

TEST_F(E2eTest, IngestSearchInfoDelete) {
  auto docs = dir_ / "docs";
  Write(docs / "install.md",
        "# Installing\n\nDownload the package and run the installer.\n\n## Configuration\n\n"
        "Edit quarry.toml to set the listen port.\n");
  Write(docs / "vacuum.html",
        "<html><head><title>Routine Vacuuming</title><script>var vacuum = 1;</script></head>"
        "<body><div class=\"navheader\">Prev Next</div><h1>Routine Vacuuming</h1>"
        "<p>The VACUUM command reclaims storage.</p><pre>VACUUM FULL mytable;</pre></body></html>");
  Write(docs / "readme.txt", "Readme\n\nNothing about the other topics.\n");

  auto ingest = Run({"ingest", docs.string(), "--data", data_, "--collection", "docs"});
  ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
  EXPECT_NE(ingest.err.find("ingested 3 documents"), std::string::npos) << ingest.err;

  auto search = Run({"search", "reclaim storage", "--data", data_, "-c", "docs", "--json"});
  ASSERT_EQ(search.exit_code, 0) << search.err;
  auto json = search.Json();
  ASSERT_FALSE(json.is_discarded()) << search.out;
  ASSERT_GE(json["hits"].size(), 1u);
  EXPECT_EQ(json["hits"][0]["title"], "Routine Vacuuming");
  EXPECT_NE(json["hits"][0]["text"].get<std::string>().find("VACUUM FULL mytable;"),
            std::string::npos);
  EXPECT_EQ(json["hits"][0]["text"].get<std::string>().find("var vacuum"), std::string::npos);
  EXPECT_GT(json["hits"][0]["score"].get<double>(), 0.0);

  auto section = Run({"search", "listen port", "--data", data_, "-c", "docs", "--json"});
  auto section_json = section.Json();
  ASSERT_GE(section_json["hits"].size(), 1u);
  EXPECT_NE(section_json["hits"][0]["section"].get<std::string>().find("Configuration"),
            std::string::npos);

  auto human = Run({"search", "installer", "--data", data_, "-c", "docs"});
  ASSERT_EQ(human.exit_code, 0);
  EXPECT_NE(human.out.find("Installing"), std::string::npos);

  auto info = Run({"info", "--data", data_, "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  auto info_json = info.Json();
  ASSERT_EQ(info_json["collections"].size(), 1u);
  EXPECT_EQ(info_json["collections"][0]["documents"], 3);
  EXPECT_GT(info_json["collections"][0]["disk_bytes"].get<uint64_t>(), 0u);

  auto del = Run({"delete", "--source", (docs / "vacuum.html").string(), "--data", data_, "-c", "docs"});
  ASSERT_EQ(del.exit_code, 0) << del.err;
  auto after = Run({"search", "reclaim storage", "--data", data_, "-c", "docs", "--json"});
  EXPECT_EQ(after.Json()["hits"].size(), 0u);
  auto missing = Run({"delete", "no-such-doc", "--data", data_, "-c", "docs"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("no document"), std::string::npos);

  // Re-ingesting is idempotent.
  auto again = Run({"ingest", docs.string(), "--data", data_, "--collection", "docs", "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.Json()["unchanged"], 2);
  EXPECT_EQ(again.Json()["documents"], 1);  // the deleted one comes back
}

// Models from the command line: ingest with an embedding model, search in every
// mode, rerank, embed; mismatches between collection and model are clear errors.
TEST_F(E2eTest, ModelsIngestSearchRerankEmbed) {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "needs /usr/bin/python3 with numpy (python3-numpy)";
  }
  const auto model = dir_ / "model", ce = dir_ / "ce";
  for (auto [out, preset] : {std::pair{model, "tiny-bert"}, std::pair{ce, "tiny-bert-ce"}}) {
    const std::string cmd = "/usr/bin/python3 " QUARRY_SOURCE_DIR "/tools/make_tiny_model.py --out " +
                            out.string() + " --preset " + preset + " >/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  auto docs = dir_ / "docs";
  Write(docs / "a.md", "# Vacuum\n\nThe vacuum command reclaims storage from dead rows.\n");
  Write(docs / "b.md", "# Indexes\n\nA btree index speeds up lookups by key.\n");
  Write(docs / "c.md", "# Backups\n\nUse the dump tool to back up a database.\n");
  auto ingest = Run({"ingest", docs.string(), "--data", data_, "-c", "m", "--model", model.string(),
                     "--precision", "int8"});
  ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
  auto info = Run({"info", "--data", data_, "-c", "m", "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("\"text\""), std::string::npos) << info.out;  // the dense vector
  for (const char* mode : {"hybrid", "dense", "sparse"}) {
    auto search = Run({"search", "vacuum storage", "--data", data_, "-c", "m", "--model",
                       model.string(), "--precision", "int8", "--mode", mode, "--json"});
    ASSERT_EQ(search.exit_code, 0) << mode << ": " << search.err;
    auto j = search.Json();
    // BM25 finds only the page with the words; the dense side finds every chunk.
    ASSERT_EQ(j["hits"].size(), std::string(mode) == "sparse" ? 1u : 3u) << mode;
    EXPECT_EQ(j["mode"], mode);
    if (std::string(mode) != "dense") {  // BM25 takes part: the vacuum page leads
      EXPECT_NE(j["hits"][0]["text"].get<std::string>().find("vacuum"), std::string::npos) << mode;
    }
  }
  auto rerank = Run({"search", "vacuum storage", "--data", data_, "-c", "m", "--model",
                     model.string(), "--reranker", ce.string(), "--rerank", "on", "--json"});
  ASSERT_EQ(rerank.exit_code, 0) << rerank.err;
  EXPECT_TRUE(rerank.Json()["reranked"].get<bool>());
  // --rerank-top: the cross-encoder rescores at least the page, so a depth
  // of 1 with a page of 2 still orders both hits by its scores.
  auto shallow = Run({"search", "vacuum storage", "--data", data_, "-c", "m", "--model",
                      model.string(), "--reranker", ce.string(), "--rerank", "on",
                      "--rerank-top", "1", "-n", "2", "--json"});
  ASSERT_EQ(shallow.exit_code, 0) << shallow.err;
  ASSERT_EQ(shallow.Json()["hits"].size(), 2u);
  EXPECT_TRUE(shallow.Json()["reranked"].get<bool>());
  EXPECT_GE(shallow.Json()["hits"][0]["score"].get<double>(),
            shallow.Json()["hits"][1]["score"].get<double>());
  EXPECT_EQ(Run({"search", "x", "--data", data_, "-c", "m", "--rerank-top", "0"}).exit_code, 2);
  auto embed = Run({"embed", "--model", model.string(), "hello", "world"});
  ASSERT_EQ(embed.exit_code, 0) << embed.err;
  EXPECT_EQ(embed.Json()["embeddings"].size(), 2u);
  EXPECT_EQ(embed.Json()["dim"], 32);

  // Mismatches.
  auto no_model = Run({"ingest", docs.string(), "--data", data_, "-c", "m"});
  EXPECT_EQ(no_model.exit_code, 1);
  EXPECT_NE(no_model.err.find("--model"), std::string::npos) << no_model.err;
  ASSERT_EQ(Run({"ingest", docs.string(), "--data", data_, "-c", "plain"}).exit_code, 0);
  auto late_model = Run({"search", "x", "--data", data_, "-c", "plain", "--model", model.string()});
  EXPECT_EQ(late_model.exit_code, 1);
  EXPECT_NE(late_model.err.find("no dense vector"), std::string::npos) << late_model.err;
  auto hybrid_no_model = Run({"search", "x", "--data", data_, "-c", "m", "--mode", "hybrid"});
  EXPECT_EQ(hybrid_no_model.exit_code, 1);
  EXPECT_NE(hybrid_no_model.err.find("--model"), std::string::npos) << hybrid_no_model.err;
  auto bad_model = Run({"search", "x", "--data", data_, "-c", "m", "--model", docs.string()});
  EXPECT_EQ(bad_model.exit_code, 1);
  EXPECT_NE(bad_model.err.find("config.json"), std::string::npos) << bad_model.err;
  auto bad_precision = Run({"embed", "--model", model.string(), "--precision", "fp8", "x"});
  EXPECT_EQ(bad_precision.exit_code, 1);
  EXPECT_NE(bad_precision.err.find("fp8"), std::string::npos);
  for (auto [flag, value, what] :
       {std::tuple{"--mode", "semantic", "semantic"}, std::tuple{"--rerank", "maybe", "maybe"},
        std::tuple{"--fusion", "max", "max"}, std::tuple{"--weights", "0.7,x", "'x'"},
        std::tuple{"--weights", "-1,1", "'-1'"}}) {
    auto bad = Run({"search", "x", "--data", data_, "-c", "m", "--model", model.string(), flag, value});
    EXPECT_EQ(bad.exit_code, 1) << flag << " " << value;
    EXPECT_NE(bad.err.find(what), std::string::npos) << flag << ": " << bad.err;
  }
  auto bad_quantization = Run({"ingest", docs.string(), "--data", data_, "-c", "q", "--model",
                               model.string(), "--quantization", "int4"});
  EXPECT_EQ(bad_quantization.exit_code, 1);
  EXPECT_NE(bad_quantization.err.find("int4"), std::string::npos) << bad_quantization.err;
  auto wrong_kind = Run({"search", "x", "--data", data_, "-c", "m", "--model", ce.string()});
  EXPECT_EQ(wrong_kind.exit_code, 1);
  EXPECT_NE(wrong_kind.err.find("cross-encoder"), std::string::npos) << wrong_kind.err;
}

TEST_F(E2eTest, ClearErrorsOnBadInput) {
  auto unknown = Run({"search", "x", "--data", data_, "-c", "nope"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("collection 'nope' does not exist"), std::string::npos) << unknown.err;

  auto usage = Run({"search"});
  EXPECT_EQ(usage.exit_code, 2);
  auto bad_flag = Run({"search", "x", "--limit", "-5", "--data", data_});
  EXPECT_EQ(bad_flag.exit_code, 2);
  auto bad_name = Run({"ingest", dir_.string(), "--data", data_, "-c", "../evil"});
  EXPECT_EQ(bad_name.exit_code, 2);
  EXPECT_NE(bad_name.err.find("invalid collection name"), std::string::npos);

  auto not_beir = Run({"eval", "--beir", dir_.string(), "--data", data_});
  EXPECT_EQ(not_beir.exit_code, 1);
  EXPECT_NE(not_beir.err.find("not a BEIR folder"), std::string::npos) << not_beir.err;

  Write(dir_ / "file", "x");
  auto unwritable = Run({"ingest", dir_.string(), "--data", (dir_ / "file" / "data").string()});
  EXPECT_EQ(unwritable.exit_code, 1);
  EXPECT_NE(unwritable.err.find("data directory"), std::string::npos) << unwritable.err;

  Write(dir_ / "bin" / "blob.txt", std::string("\0\1\2\3binary\0\0", 12));
  auto binary = Run({"ingest", (dir_ / "bin" / "blob.txt").string(), "--data", data_});
  EXPECT_EQ(binary.exit_code, 1);
  EXPECT_NE(binary.err.find("blob.txt"), std::string::npos) << binary.err;

  Write(dir_ / "broken" / "c.jsonl", "{\"_id\": \"a\", \"text\": \"fine\"}\n{\"_id\": \"b\", \"te");
  auto truncated = Run({"ingest", (dir_ / "broken").string(), "--data", data_, "--json"});
  EXPECT_EQ(truncated.exit_code, 0) << truncated.err;
  EXPECT_EQ(truncated.Json()["documents"], 1);
  EXPECT_EQ(truncated.Json()["bad_lines"], 1);

  auto missing_path = Run({"ingest", (dir_ / "nothing-here").string(), "--data", data_});
  EXPECT_EQ(missing_path.exit_code, 1);
}

// A full disk (simulated with a file-size limit on the process) fails the
// ingest with a clear message and loses nothing committed before.
TEST_F(E2eTest, FullDiskKeepsCommittedData) {
  Write(dir_ / "small" / "a.md", "# Kept\n\nprecious sentence\n");
  ASSERT_EQ(Run({"ingest", (dir_ / "small").string(), "--data", data_}).exit_code, 0);
  auto corpus = MakeCorpus(20000);  // ~10 MB of store
  auto full = Run({"ingest", corpus.string(), "--data", data_, "--batch", "500"}, 4 << 20);
  EXPECT_EQ(full.exit_code, 1);
  EXPECT_NE(full.err.find("disk full"), std::string::npos) << full.err;
  auto search = Run({"search", "precious", "--data", data_, "--json"});
  ASSERT_EQ(search.exit_code, 0) << search.err;
  ASSERT_EQ(search.Json()["hits"].size(), 1u);
  // Whatever batches were committed are complete and searchable.
  auto info = Run({"info", "--data", data_, "--json"});
  uint64_t docs = info.Json()["collections"][0]["documents"];
  ASSERT_GE(docs, 1u);
  uint64_t committed = docs - 1;
  EXPECT_EQ(committed % 500, 0u);
  if (committed > 0) {
    auto last = Run({"search", "uq" + std::to_string(committed - 1) + "x", "--data", data_, "--json"});
    EXPECT_EQ(last.Json()["hits"].size(), 1u);
  }
  auto next = Run({"search", "uq" + std::to_string(committed) + "x", "--data", data_, "--json"});
  EXPECT_EQ(next.Json()["hits"].size(), 0u);
}

// kill -9 at random moments during ingest: every acknowledged batch survives,
// the store holds a prefix of whole batches, and the index agrees with it.
TEST_F(E2eTest, KillDashNineDuringIngest) {
  constexpr size_t kDocs = 6000;
  constexpr size_t kBatch = 100;
  auto corpus = MakeCorpus(kDocs);
  std::mt19937 rng(42);
  uint64_t previous = 0;
  for (int round = 0; round < 5; ++round) {
    pid_t pid = Start({"ingest", corpus.string(), "--data", data_, "--batch", std::to_string(kBatch),
                       "--progress-ms", "0"});
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 700));
    ::kill(pid, SIGKILL);
    auto killed = Wait(pid);
    // The last progress line printed before the kill is an acknowledgement.
    uint64_t acknowledged = 0;
    std::istringstream lines(killed.err);
    for (std::string line; std::getline(lines, line);) {
      size_t pos = line.find("files, ");
      if (pos != std::string::npos) acknowledged = std::stoull(line.substr(pos + 7));
    }
    auto info = Run({"info", "--data", data_, "--json"});
    ASSERT_EQ(info.exit_code, 0) << info.err;
    auto collections = info.Json()["collections"];
    uint64_t docs = collections.empty() ? 0 : collections[0]["documents"].get<uint64_t>();
    EXPECT_GE(docs, previous) << "round " << round;
    EXPECT_GE(docs, acknowledged) << "round " << round;
    EXPECT_TRUE(docs % kBatch == 0 || docs == kDocs) << docs;
    if (docs > 0 && docs < kDocs) {
      auto last = Run({"search", "uq" + std::to_string(docs - 1) + "x", "--data", data_, "--json"});
      EXPECT_EQ(last.Json()["hits"].size(), 1u) << "round " << round;
      auto next = Run({"search", "uq" + std::to_string(docs) + "x", "--data", data_, "--json"});
      EXPECT_EQ(next.Json()["hits"].size(), 0u) << "round " << round;
    }
    previous = docs;
  }
  auto finish = Run({"ingest", corpus.string(), "--data", data_, "--json"});
  ASSERT_EQ(finish.exit_code, 0) << finish.err;
  auto info = Run({"info", "--data", data_, "--json"});
  EXPECT_EQ(info.Json()["collections"][0]["documents"], kDocs);
  EXPECT_EQ(info.Json()["collections"][0]["chunks"], kDocs);
  auto first = Run({"search", "uq0x", "--data", data_, "--json"});
  EXPECT_EQ(first.Json()["hits"].size(), 1u);
}

TEST_F(E2eTest, EvalOnSmallBeirFolder) {
  auto beir = dir_ / "beir";
  Write(beir / "corpus.jsonl",
        "{\"_id\": \"d1\", \"title\": \"Cats\", \"text\": \"Cats purr and sleep all day.\"}\n"
        "{\"_id\": \"d2\", \"title\": \"Dogs\", \"text\": \"Dogs bark at the mail carrier.\"}\n"
        "{\"_id\": \"d3\", \"title\": \"Birds\", \"text\": \"Birds sing at dawn.\"}\n");
  Write(beir / "queries.jsonl",
        "{\"_id\": \"q1\", \"text\": \"why do cats purr\"}\n"
        "{\"_id\": \"q2\", \"text\": \"barking dogs\"}\n"
        "{\"_id\": \"q3\", \"text\": \"unjudged query\"}\n");
  Write(beir / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq2\td3\t1\n");
  auto eval = Run({"eval", "--beir", beir.string(), "--data", data_, "--json"});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  auto json = eval.Json();
  EXPECT_EQ(json["queries"], 2);
  // q1: d1 first (1.0). q2: d2 first, d3 not retrieved: 1 / (1 + 1/log2(3)).
  double expected = (1.0 + 1.0 / (1.0 + 1.0 / std::log2(3.0))) / 2;
  EXPECT_NEAR(json["ndcg@10"].get<double>(), expected, 1e-9);
  EXPECT_NEAR(json["recall@100"].get<double>(), 0.75, 1e-9);
  EXPECT_NEAR(json["mrr@10"].get<double>(), 1.0, 1e-9);
  EXPECT_GE(json["p99_ms"].get<double>(), json["p50_ms"].get<double>());
  EXPECT_EQ(json["collection"], "beir-beir");

  // With models: dense vectors at ingest, every mode, reranking; recall of a
  // 3-document corpus is complete whatever the (random) model does.
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) return;
  const auto model = dir_ / "model", ce = dir_ / "ce";
  for (auto [out, preset] : {std::pair{model, "tiny-bert"}, std::pair{ce, "tiny-bert-ce"}}) {
    const std::string cmd = "/usr/bin/python3 " QUARRY_SOURCE_DIR "/tools/make_tiny_model.py --out " +
                            out.string() + " --preset " + preset + " >/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  for (const char* mode : {"dense", "hybrid"}) {
    auto run = Run({"eval", "--beir", beir.string(), "--data", data_, "--json", "--model",
                    model.string(), "--mode", mode, "--reranker", ce.string(), "--rerank", "on"});
    ASSERT_EQ(run.exit_code, 0) << mode << ": " << run.err;
    auto j = run.Json();
    EXPECT_EQ(j["mode"], mode);
    EXPECT_EQ(j["collection"], "beir-beir-model");
    EXPECT_EQ(j["queries_reranked"], 2);
    EXPECT_NEAR(j["recall@100"].get<double>(), 1.0, 1e-9) << mode;
  }
}

TEST_F(E2eTest, RealPostgresManualWhenInstalled) {
  std::filesystem::path manual = "/usr/share/doc/postgresql-doc-15/html";
  if (!std::filesystem::exists(manual / "routine-vacuuming.html")) {
    GTEST_SKIP() << "postgresql-doc-15 not installed";
  }
  auto pages = dir_ / "pg";
  std::filesystem::create_directories(pages);
  for (const char* page : {"routine-vacuuming.html", "backup-dump.html", "sql-createindex.html",
                           "wal-configuration.html", "sql-vacuum.html", "tutorial-join.html"}) {
    std::filesystem::copy_file(manual / page, pages / page);
  }
  auto ingest = Run({"ingest", pages.string(), "--data", data_});
  ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
  auto search = Run({"search", "how do I back up a database with pg_dump", "--data", data_, "--json"});
  auto json = search.Json();
  ASSERT_GE(json["hits"].size(), 1u);
  EXPECT_NE(json["hits"][0]["source"].get<std::string>().find("backup-dump.html"), std::string::npos);
  auto vacuum = Run({"search", "transaction ID wraparound", "--data", data_, "--json"});
  ASSERT_GE(vacuum.Json()["hits"].size(), 1u);
  EXPECT_NE(vacuum.Json()["hits"][0]["source"].get<std::string>().find("vacuum"), std::string::npos);
}

}  // namespace

namespace {

// The cache across processes: two ingests and two searches, each a separate
// `quarry` process, share one real Redis (started here on a free loopback
// port). Re-ingesting unchanged content computes no embedding; a reworded
// query (case, spacing) is served from the result cache; a write is never
// answered from an older entry; a dead Redis costs nothing but the cache.
TEST_F(E2eTest, CacheSharedThroughRedisAcrossProcesses) {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "needs /usr/bin/python3 with numpy (python3-numpy)";
  }
  quarry::cache::testing::RedisServerProcess redis;
  std::string why;
  if (quarry::cache::testing::RedisServerProcess::FindBinary().empty()) {
    GTEST_SKIP() << "redis-server is not installed (scripts/install-deps.sh installs it)";
  }
  ASSERT_TRUE(redis.Start(0, {}, &why)) << why;
  const std::string url = "redis://127.0.0.1:" + std::to_string(redis.port());
  const auto model = dir_ / "model";
  ASSERT_EQ(std::system(("/usr/bin/python3 " QUARRY_SOURCE_DIR
                         "/tools/make_tiny_model.py --preset tiny-bert --out " +
                         model.string() + " >/dev/null")
                            .c_str()),
            0);
  auto docs = dir_ / "docs";
  Write(docs / "a.md", "# Vacuum\n\nThe vacuum command reclaims storage from dead rows.\n");
  Write(docs / "b.md", "# Indexes\n\nA btree index speeds up lookups by key.\n");
  Write(docs / "c.md", "# Backups\n\nUse the dump tool to back up a database.\n");
  const std::vector<std::string> with_model = {"--model", model.string(), "--redis", url};
  auto ingest = [&](const std::string& data, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"ingest", docs.string(), "--data", data, "-c", "m", "--json"};
    args.insert(args.end(), with_model.begin(), with_model.end());
    args.insert(args.end(), extra.begin(), extra.end());
    return Run(args);
  };
  auto first = ingest(data_);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.Json()["embeddings_computed"], 3);
  EXPECT_EQ(first.Json()["embeddings_from_cache"], 0);
  auto elsewhere = ingest((dir_ / "other-data").string());
  ASSERT_EQ(elsewhere.exit_code, 0) << elsewhere.err;
  EXPECT_EQ(elsewhere.Json()["embeddings_computed"], 0) << "unchanged content: no inference";
  EXPECT_EQ(elsewhere.Json()["embeddings_from_cache"], 3);

  auto search = [&](const std::string& query, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"search", query, "--data", data_, "-c", "m", "--json"};
    args.insert(args.end(), with_model.begin(), with_model.end());
    args.insert(args.end(), extra.begin(), extra.end());
    return Run(args);
  };
  auto cold = search("vacuum storage");
  ASSERT_EQ(cold.exit_code, 0) << cold.err;
  EXPECT_EQ(cold.Json()["cached"], false);
  auto warm = search("Vacuum   STORAGE");
  ASSERT_EQ(warm.exit_code, 0) << warm.err;
  EXPECT_EQ(warm.Json()["cached"], true) << "same tokens, same terms: the same entry";
  EXPECT_EQ(warm.Json()["hits"], cold.Json()["hits"]);
  EXPECT_EQ(search("vacuum storage", {"--limit", "2"}).Json()["cached"], false);
  EXPECT_EQ(search("vacuum storage", {"--no-cache", "results"}).Json()["cached"], false);

  // A write: the next answer is computed afresh and includes it.
  Write(docs / "d.md", "# Vacuum full\n\nVacuum full rewrites storage of the whole table.\n");
  ASSERT_EQ(ingest(data_).exit_code, 0);
  auto after = search("vacuum storage");
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(after.Json()["cached"], false);
  EXPECT_EQ(after.Json()["hits"].size(), 4u);

  // `quarry info` reports the shared layer.
  auto info = Run({"info", "--data", data_, "--json", "--redis", url});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  auto shared = info.Json()["cache"]["redis"];
  EXPECT_EQ(shared["up"], true) << info.out;
  EXPECT_EQ(shared["entries"]["chunk_embedding"], 4);
  EXPECT_GE(shared["entries"]["query_embedding"].get<int>(), 1);
  EXPECT_GE(shared["entries"]["search_result"].get<int>(), 3);

  // Redis gone: searches still answer (from the model), nothing fails.
  redis.Kill();
  auto info_down = Run({"info", "--data", data_, "--json", "--redis", url});
  ASSERT_EQ(info_down.exit_code, 0) << info_down.err;
  EXPECT_EQ(info_down.Json()["cache"]["redis"]["up"], false);
  auto no_redis = search("vacuum storage");
  ASSERT_EQ(no_redis.exit_code, 0) << no_redis.err;
  EXPECT_EQ(no_redis.Json()["hits"].size(), 4u);

  auto bad_url = Run({"search", "x", "--data", data_, "-c", "m", "--model", model.string(),
                      "--redis", "http://nope"});
  EXPECT_EQ(bad_url.exit_code, 1);
  EXPECT_NE(bad_url.err.find("redis"), std::string::npos) << bad_url.err;
  auto bad_kind = search("x", {"--no-cache", "everything"});
  EXPECT_EQ(bad_kind.exit_code, 1);
  EXPECT_NE(bad_kind.err.find("--no-cache"), std::string::npos) << bad_kind.err;
  auto bad_ttl = search("x", {"--cache-ttl", "query=soon"});
  EXPECT_EQ(bad_ttl.exit_code, 1);
  EXPECT_NE(bad_ttl.err.find("--cache-ttl"), std::string::npos) << bad_ttl.err;
}

}  // namespace
