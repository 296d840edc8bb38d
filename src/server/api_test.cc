// The routes of ApiService through a real server on a loopback port.
#include "server/api.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "server/test_http_client.h"

namespace quarry::server {
namespace {

using nlohmann::json;
using testing::ClientResponse;
using testing::TestClient;

// Deterministic vectors from a hash of the text: equal texts, equal vectors.
class StubEmbedder final : public embed::Embedder {
 public:
  StubEmbedder(std::string id, size_t dim) : id_(std::move(id)), dim_(dim) {}
  size_t dim() const override { return dim_; }
  const std::string& model_id() const override { return id_; }
  Status Embed(std::span<const std::string_view> texts, embed::TextKind,
               std::vector<std::vector<float>>* out) override {
    out->clear();
    for (std::string_view text : texts) {
      std::seed_seq seed(text.begin(), text.end());
      std::mt19937 rng(seed);
      std::normal_distribution<float> normal;
      std::vector<float> vector(dim_);
      double norm = 0;
      for (float& value : vector) {
        value = normal(rng);
        norm += value * value;
      }
      for (float& value : vector) value = static_cast<float>(value / std::sqrt(norm));
      out->push_back(std::move(vector));
    }
    return Status::OK();
  }

 private:
  std::string id_;
  size_t dim_;
};

// Score: how many query words the passage contains.
class StubReranker final : public embed::Reranker {
 public:
  explicit StubReranker(std::string id) : id_(std::move(id)) {}
  const std::string& model_id() const override { return id_; }
  Status Score(std::string_view query, std::span<const std::string_view> passages,
               std::vector<float>* scores) override {
    scores->clear();
    for (std::string_view passage : passages) {
      float score = -1;
      size_t start = 0;
      while (start < query.size()) {
        size_t space = query.find(' ', start);
        if (space == std::string_view::npos) space = query.size();
        std::string_view word = query.substr(start, space - start);
        if (!word.empty() && passage.find(word) != std::string_view::npos) score += 1;
        start = space + 1;
      }
      scores->push_back(score);
    }
    return Status::OK();
  }

 private:
  std::string id_;
};

size_t CountWords(std::string_view text) {
  size_t words = 0;
  bool in_word = false;
  for (char c : text) {
    bool space = c == ' ';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("quarry_api_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    EngineOptions engine_options;
    engine_options.data_dir = dir_ / "data";
    engine_options.map_size = 64ull << 20;
    auto engine = Engine::Open(engine_options);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    engine_ = std::move(engine).value();
  }

  void TearDown() override {
    if (server_) server_->Stop();
    server_.reset();
    service_.reset();
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }

  void AddStubModels() {
    ASSERT_TRUE(models_.AddEmbedder({std::make_unique<StubEmbedder>("stub-embed", 8), false,
                                     [](std::string_view text) { return CountWords(text) + 2; }})
                    .ok());
    ASSERT_TRUE(models_.AddEmbedder({std::make_unique<StubEmbedder>("mrl", 16), true, nullptr}).ok());
    ASSERT_TRUE(models_.AddReranker({std::make_unique<StubReranker>("stub-rerank"),
                                     [](std::string_view text) { return CountWords(text); }})
                    .ok());
  }

  void StartServer(ApiOptions api_options = {}, ServerOptions server_options = {}) {
    api_options.access_log = false;
    api_options.limits.max_documents = 50;
    api_options.limits.max_inputs = 64;
    api_options.limits.max_rerank_documents = 32;
    service_ = std::make_unique<ApiService>(engine_.get(), &models_, api_options);
    server_options.host = "127.0.0.1";
    server_options.port = 0;
    server_options.workers = 4;
    service_->Configure(&server_options);
    auto server = HttpServer::Start(server_options, [this](HttpRequest& request) {
      return service_->Handle(request);
    });
    ASSERT_TRUE(server.ok()) << server.status().message();
    server_ = std::move(server).value();
    service_->AttachServer(server_.get());
    port_ = server_->port();
  }

  ClientResponse Call(const std::string& method, const std::string& path,
                      const std::string& body = "", const std::vector<std::string>& headers = {}) {
    TestClient client(port_);
    auto response = client.Request(method, path, body, headers);
    EXPECT_TRUE(response.has_value()) << method << " " << path;
    return response.value_or(ClientResponse{});
  }

  // A Qdrant-style error: the status code and a non-empty message.
  void ExpectQdrantError(const ClientResponse& response, int status, const std::string& fragment = "") {
    EXPECT_EQ(response.status, status) << response.body;
    json body = response.Json();
    ASSERT_TRUE(body.is_object()) << response.body;
    ASSERT_TRUE(body["status"].is_object()) << response.body;
    ASSERT_TRUE(body["status"]["error"].is_string()) << response.body;
    EXPECT_TRUE(body["time"].is_number()) << response.body;
    if (!fragment.empty()) {
      EXPECT_NE(body["status"]["error"].get<std::string>().find(fragment), std::string::npos)
          << response.body;
    }
  }

  void ExpectOpenAiError(const ClientResponse& response, int status, const std::string& fragment = "") {
    EXPECT_EQ(response.status, status) << response.body;
    json body = response.Json();
    ASSERT_TRUE(body.is_object() && body["error"].is_object()) << response.body;
    ASSERT_TRUE(body["error"]["message"].is_string()) << response.body;
    EXPECT_TRUE(body["error"]["type"].is_string()) << response.body;
    if (!fragment.empty()) {
      EXPECT_NE(body["error"]["message"].get<std::string>().find(fragment), std::string::npos)
          << response.body;
    }
  }

  void CreateDocsCollection() {
    ASSERT_EQ(Call("PUT", "/collections/docs", "{}").status, 200);
    json body = {{"documents",
                  {{{"id", "pg-vacuum"},
                    {"text", "Vacuum reclaims storage occupied by dead tuples.\n\nRun it often."},
                    {"title", "VACUUM"},
                    {"source", "docs/vacuum.txt"}},
                   {{"id", "dir/index.html"},
                    {"html", "<html><head><title>Indexes</title></head><body><h1>Indexes</h1>"
                             "<p>A B-tree index speeds up lookups.</p></body></html>"}},
                   {{"id", "guide"},
                    {"markdown", "# Replication\n\nStreaming replication ships WAL records."}}}}};
    auto response = Call("POST", "/collections/docs/documents", body.dump());
    ASSERT_EQ(response.status, 200) << response.body;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Engine> engine_;
  ModelRegistry models_;
  std::unique_ptr<ApiService> service_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};

TEST_F(ApiTest, ServiceRoutes) {
  StartServer();
  auto root = Call("GET", "/");
  EXPECT_EQ(root.status, 200);
  EXPECT_EQ(root.Json()["version"], "0.1.0");
  EXPECT_EQ(Call("GET", "/healthz").body, "healthz check passed");
  EXPECT_EQ(Call("GET", "/livez").status, 200);
  EXPECT_EQ(Call("GET", "/readyz").status, 200);
  service_->SetReady(false);
  EXPECT_EQ(Call("GET", "/readyz").status, 503);
  service_->SetReady(true);
  auto head = Call("HEAD", "/healthz");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
}

TEST_F(ApiTest, PointsRoutes) {
  StartServer();
  ASSERT_EQ(Call("PUT", "/collections/p",
                 R"({"vectors": {"size": 2, "distance": "Dot"},
                     "sparse_vectors": {"s": {"modifier": "idf"}, "t": {}}})")
                .status,
            200);
  auto info = Call("GET", "/collections/p").Json()["result"];
  EXPECT_EQ(info["config"]["params"]["sparse_vectors"]["s"]["modifier"], "idf");
  // A list and a batch.
  auto upsert = Call("PUT", "/collections/p/points?wait=true",
                     R"({"points": [
                          {"id": 1, "vector": {"": [1, 0], "s": {"indices": [5], "values": [1]}},
                           "payload": {"kind": "a", "n": 1}},
                          {"id": "550E8400-E29B-41D4-A716-446655440000", "vector": [0, 1],
                           "payload": {"kind": "b"}}]})");
  ASSERT_EQ(upsert.status, 200) << upsert.body;
  EXPECT_EQ(upsert.Json()["result"]["status"], "completed");
  ASSERT_EQ(Call("PUT", "/collections/p/points",
                 R"({"batch": {"ids": [2, 3], "vectors": [[2, 0], [3, 1]],
                               "payloads": [{"kind": "a"}, null]}})")
                .status,
            200);
  EXPECT_EQ(Call("POST", "/collections/p/points/count", "{}").Json()["result"]["count"], 4);
  // Retrieve, get.
  auto got = Call("POST", "/collections/p/points",
                  R"({"ids": [1, "550e8400e29b41d4a716446655440000", 77], "with_vector": true})")
                 .Json()["result"];
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]["payload"], json({{"kind", "a"}, {"n", 1}}));
  EXPECT_EQ(got[0]["vector"]["default"], json({1.0, 0.0}));
  EXPECT_EQ(got[0]["vector"]["s"]["indices"], json({5}));
  EXPECT_EQ(got[1]["id"], "550e8400-e29b-41d4-a716-446655440000");
  EXPECT_EQ(Call("GET", "/collections/p/points/3").Json()["result"]["vector"]["default"],
            json({3.0, 1.0}));
  ExpectQdrantError(Call("GET", "/collections/p/points/4"), 404, "4");
  ExpectQdrantError(Call("GET", "/collections/p/points/xyz"), 400, "not a valid point id");
  // Query: nearest, filtered, fused, paged.
  auto nearest = Call("POST", "/collections/p/points/query",
                      R"({"query": [1, 0], "limit": 2, "with_payload": ["kind"]})")
                     .Json()["result"]["points"];
  ASSERT_EQ(nearest.size(), 2u);
  EXPECT_EQ(nearest[0]["id"], 3);
  EXPECT_EQ(nearest[0]["score"], 3.0);
  EXPECT_EQ(nearest[0]["payload"], json::object());  // point 3 has no payload
  EXPECT_EQ(nearest[1]["payload"], json({{"kind", "a"}}));
  auto filtered = Call("POST", "/collections/p/points/query",
                       R"({"query": [1, 0], "filter": {"must": [{"key": "kind", "match": {"value": "a"}}]},
                           "with_payload": false})")
                      .Json()["result"]["points"];
  ASSERT_EQ(filtered.size(), 2u);
  EXPECT_EQ(filtered[0]["id"], 2);
  EXPECT_FALSE(filtered[0].contains("payload"));
  auto fused = Call("POST", "/collections/p/points/query",
                    R"({"prefetch": [{"query": [1, 0], "limit": 2},
                                     {"query": {"indices": [5], "values": [1]}, "using": "s"}],
                        "query": {"fusion": "rrf"}})");
  ASSERT_EQ(fused.status, 200) << fused.body;
  EXPECT_EQ(fused.Json()["result"]["points"][0]["id"], 1);  // in both lists
  auto batch = Call("POST", "/collections/p/points/query/batch",
                    R"({"searches": [{"query": [0, 1], "limit": 1}, {"query": [1, 0], "limit": 1, "offset": 1}]})")
                   .Json()["result"];
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0]["points"][0]["id"], "550e8400-e29b-41d4-a716-446655440000");
  EXPECT_EQ(batch[1]["points"][0]["id"], 2);
  auto legacy = Call("POST", "/collections/p/points/search",
                     R"({"vector": {"name": "s", "vector": {"indices": [5], "values": [2]}}, "limit": 3})")
                    .Json()["result"];
  ASSERT_EQ(legacy.size(), 1u);
  EXPECT_EQ(legacy[0]["id"], 1);
  // Payload routes, scroll, delete.
  ASSERT_EQ(Call("POST", "/collections/p/points/payload",
                 R"({"payload": {"kind": "c"}, "filter": {"must": [{"has_id": ["550e8400-e29b-41d4-a716-446655440000"]}]}})")
                .status,
            200);
  ASSERT_EQ(Call("POST", "/collections/p/points/payload/delete", R"({"keys": ["n"], "points": [1]})").status, 200);
  ASSERT_EQ(Call("POST", "/collections/p/points/payload/clear", R"({"points": [3]})").status, 200);
  auto page = Call("POST", "/collections/p/points/scroll", R"({"limit": 3})").Json()["result"];
  ASSERT_EQ(page["points"].size(), 3u);
  EXPECT_EQ(page["points"][0]["payload"], json({{"kind", "a"}}));
  EXPECT_EQ(page["points"][2]["payload"], json::object());
  ASSERT_FALSE(page["next_page_offset"].is_null());
  auto rest = Call("POST", "/collections/p/points/scroll",
                   json({{"limit", 3}, {"offset", page["next_page_offset"]}}).dump())
                  .Json()["result"];
  ASSERT_EQ(rest["points"].size(), 1u);
  EXPECT_EQ(rest["points"][0]["payload"], json({{"kind", "c"}}));
  EXPECT_TRUE(rest["next_page_offset"].is_null());
  ASSERT_EQ(Call("POST", "/collections/p/points/delete",
                 R"({"filter": {"must": [{"key": "kind", "match": {"value": "a"}}]}})")
                .status,
            200);
  EXPECT_EQ(Call("POST", "/collections/p/points/count", "{}").Json()["result"]["count"], 2);
  std::string metrics = Call("GET", "/metrics").body;  // point 1, the only one with "s", is gone
  EXPECT_NE(metrics.find("quarry_collection_sparse_vectors{collection=\"p\",vector=\"s\"} 0"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("quarry_search_stage_duration_seconds_count{stage=\"query\"}"), std::string::npos);
  // Bad requests name the field.
  ExpectQdrantError(Call("PUT", "/collections/p/points", R"({"points": [{"id": 9, "vector": [1, 2, 3]}]})"),
                    400, "dimension 3");
  ExpectQdrantError(Call("PUT", "/collections/p/points", R"({"points": [{"id": -1}]})"), 400,
                    "points[0].id");
  ExpectQdrantError(Call("PUT", "/collections/p/points", R"({"points": [{"id": 9, "vector": {"x": [1, 2]}}]})"),
                    400, "no dense vector 'x'");
  ExpectQdrantError(Call("PUT", "/collections/p/points",
                         R"({"points": [{"id": 9, "vector": {"s": {"indices": [1, 1], "values": [1, 2]}}}]})"),
                    400, "twice");
  ExpectQdrantError(Call("PUT", "/collections/p/points", R"({"batch": {"ids": [1, 2], "vectors": [[1, 0]]}})"),
                    400, "batch.vectors");
  ExpectQdrantError(Call("POST", "/collections/p/points/query", R"({"query": {"recommend": {}}})"), 400,
                    "not supported");
  ExpectQdrantError(Call("POST", "/collections/p/points/query", R"({"query": {"fusion": "rrf"}})"), 400,
                    "prefetches");
  ExpectQdrantError(Call("POST", "/collections/p/points/query", R"({"query": [1, 0], "limit": 0})"), 400,
                    "limit");
  ExpectQdrantError(Call("POST", "/collections/p/points/scroll", R"({"offset": "nope"})"), 400, "offset");
  ExpectQdrantError(Call("POST", "/collections/nope/points/count", "{}"), 404);
}

TEST_F(ApiTest, CollectionsLifecycle) {
  StartServer();
  EXPECT_EQ(Call("GET", "/collections").Json()["result"]["collections"], json::array());
  auto created = Call("PUT", "/collections/c1",
                      R"({"vectors": {"size": 8, "distance": "Cosine"}, "hnsw_config": {"m": 12}})");
  ASSERT_EQ(created.status, 200) << created.body;
  EXPECT_EQ(created.Json()["result"], true);
  EXPECT_EQ(created.Json()["status"], "ok");
  EXPECT_TRUE(created.Json()["time"].is_number());
  ExpectQdrantError(Call("PUT", "/collections/c1", "{}"), 409, "already exists");
  ASSERT_EQ(Call("PUT", "/collections/c2").status, 200);  // empty body: defaults
  auto list = Call("GET", "/collections").Json()["result"]["collections"];
  EXPECT_EQ(list, json::parse(R"([{"name": "c1"}, {"name": "c2"}])"));
  auto info = Call("GET", "/collections/c1").Json()["result"];
  EXPECT_EQ(info["status"], "green");
  EXPECT_EQ(info["points_count"], 0);
  EXPECT_EQ(info["config"]["params"]["vectors"]["size"], 8);
  EXPECT_EQ(info["config"]["params"]["vectors"]["distance"], "Cosine");
  EXPECT_EQ(info["config"]["params"]["vectors"]["hnsw_config"]["m"], 12);
  EXPECT_EQ(Call("GET", "/collections/c1/exists").Json()["result"]["exists"], true);
  EXPECT_EQ(Call("GET", "/collections/nope/exists").Json()["result"]["exists"], false);
  EXPECT_EQ(Call("DELETE", "/collections/c1").Json()["result"], true);
  EXPECT_EQ(Call("DELETE", "/collections/c1").Json()["result"], false);
  ExpectQdrantError(Call("GET", "/collections/c1"), 404, "does not exist");
  auto named = Call("PUT", "/collections/c3",
                    R"({"vectors": {"title": {"size": 4, "distance": "Dot"},
                                    "body": {"size": 8, "distance": "Euclid",
                                             "quantization_config": {"binary": {}}}}})");
  ASSERT_EQ(named.status, 200) << named.body;
  auto vectors = Call("GET", "/collections/c3").Json()["result"]["config"]["params"]["vectors"];
  EXPECT_EQ(vectors["title"]["size"], 4);
  EXPECT_EQ(vectors["body"]["distance"], "Euclid");
  EXPECT_TRUE(vectors["body"]["quantization_config"].contains("binary"));
}

TEST_F(ApiTest, CreateCollectionErrors) {
  StartServer();
  ExpectQdrantError(Call("PUT", "/collections/x", "{not json"), 400, "malformed JSON");
  ExpectQdrantError(Call("PUT", "/collections/x", "[]"), 400, "expected a JSON object");
  ExpectQdrantError(Call("PUT", "/collections/x", R"({"vector": {}})"), 400, "unknown field 'vector'");
  ExpectQdrantError(Call("PUT", "/collections/x", R"({"vectors": {"size": "8", "distance": "Dot"}})"),
                    400, "vectors.size: expected an integer, got string");
  ExpectQdrantError(Call("PUT", "/collections/x", R"({"vectors": {"size": 8, "distance": "Manhattan"}})"),
                    400, "Manhattan");
  ExpectQdrantError(Call("PUT", "/collections/bad%20name", "{}"), 400, "invalid collection name");
  ExpectQdrantError(Call("PUT", "/collections/x", R"({"quarry": {"chunk_overlap_tokens": 4000}})"), 400);
  EXPECT_EQ(Call("GET", "/collections").Json()["result"]["collections"], json::array());
}

TEST_F(ApiTest, DocumentsLifecycle) {
  StartServer();
  CreateDocsCollection();
  auto stats = Call("GET", "/collections/docs/stats").Json()["result"];
  EXPECT_EQ(stats["documents"], 3);
  EXPECT_GE(stats["chunks"].get<int>(), 3);
  EXPECT_EQ(Call("GET", "/collections/docs").Json()["result"]["points_count"], stats["chunks"]);

  auto search = Call("POST", "/collections/docs/search", R"({"query": "vacuum dead tuples", "limit": 2})");
  ASSERT_EQ(search.status, 200) << search.body;
  auto hits = search.Json()["result"]["hits"];
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0]["doc_id"], "pg-vacuum");
  EXPECT_EQ(hits[0]["title"], "VACUUM");
  EXPECT_EQ(hits[0]["source"], "docs/vacuum.txt");
  EXPECT_NE(hits[0]["text"].get<std::string>().find("dead tuples"), std::string::npos);
  EXPECT_TRUE(hits[0]["score"].is_number());

  auto bare = Call("POST", "/collections/docs/search", R"({"query": "b-tree index", "with_text": false})");
  auto bare_hits = bare.Json()["result"]["hits"];
  ASSERT_FALSE(bare_hits.empty());
  EXPECT_FALSE(bare_hits[0].contains("text"));
  EXPECT_TRUE(bare_hits[0]["id"].is_number());

  auto doc = Call("GET", "/collections/docs/documents/dir%2Findex.html");
  ASSERT_EQ(doc.status, 200) << doc.body;
  EXPECT_EQ(doc.Json()["result"]["title"], "Indexes");
  auto md = Call("GET", "/collections/docs/documents/guide").Json()["result"];
  EXPECT_EQ(md["title"], "Replication");

  // Same content again: unchanged.
  json again = {{"documents", {{{"id", "guide"},
                                {"markdown", "# Replication\n\nStreaming replication ships WAL records."}}}}};
  EXPECT_EQ(Call("POST", "/collections/docs/documents", again.dump()).Json()["result"]["unchanged"], 1);

  auto deleted = Call("DELETE", "/collections/docs/documents/dir%2Findex.html");
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(deleted.Json()["result"]["deleted_documents"], 1);
  ExpectQdrantError(Call("DELETE", "/collections/docs/documents/dir%2Findex.html"), 404, "no document");
  ExpectQdrantError(Call("GET", "/collections/docs/documents/dir%2Findex.html"), 404);
  EXPECT_EQ(Call("GET", "/collections/docs/stats").Json()["result"]["documents"], 2);
}

TEST_F(ApiTest, DocumentErrors) {
  StartServer();
  CreateDocsCollection();
  const std::string path = "/collections/docs/documents";
  ExpectQdrantError(Call("POST", "/collections/missing/documents",
                         R"({"documents": [{"id": "a", "text": "x"}]})"),
                    404, "does not exist");
  ExpectQdrantError(Call("POST", path, ""), 400, "empty");
  ExpectQdrantError(Call("POST", path, "{\"documents\": [}"), 400, "malformed JSON");
  ExpectQdrantError(Call("POST", path, "{\"documents\": [{\"id\": \"a\", \"text\": \"\xc3\x28\"}]}"), 400,
                    "UTF-8");
  ExpectQdrantError(Call("POST", path, R"({"documents": "a"})"), 400, "documents: expected an array");
  ExpectQdrantError(Call("POST", path, R"({"documents": [{"id": ["a"], "text": "x"}]})"), 400,
                    "documents[0].id");
  ExpectQdrantError(Call("POST", path, R"({"documents": [{"id": "a", "text": "x", "html": "y"}]})"), 400,
                    "exactly one");
  ExpectQdrantError(Call("POST", path, R"({"documents": [{"id": "a", "text": "   "}]})"), 400,
                    "documents[0]");
  ExpectQdrantError(Call("POST", path, R"({"documents": [{"id": "a", "text": "x", "metadata": [1]}]})"),
                    400, "documents[0].metadata: expected an object");
  json many = {{"documents", json::array()}};
  for (int doc_idx = 0; doc_idx < 51; ++doc_idx) {
    many["documents"].push_back({{"id", std::to_string(doc_idx)}, {"text", "t"}});
  }
  ExpectQdrantError(Call("POST", path, many.dump()), 413, "at most 50");
  ExpectQdrantError(Call("DELETE", "/collections/docs/documents/%zz"), 400, "percent-encoding");
  ExpectQdrantError(Call("GET", "/collections/docs/documents/%ff"), 400, "UTF-8");
  EXPECT_EQ(Call("GET", "/collections/docs/stats").Json()["result"]["documents"], 3);
}

TEST_F(ApiTest, SearchErrors) {
  StartServer();
  CreateDocsCollection();
  const std::string path = "/collections/docs/search";
  ExpectQdrantError(Call("POST", "/collections/none/search", R"({"query": "x"})"), 404);
  ExpectQdrantError(Call("POST", path, R"({})"), 400, "missing field 'query'");
  ExpectQdrantError(Call("POST", path, R"({"query": 5})"), 400, "query: expected a string");
  ExpectQdrantError(Call("POST", path, R"({"query": "x", "limit": 0})"), 400, "limit");
  ExpectQdrantError(Call("POST", path, R"({"query": "x", "limit": "10"})"), 400, "limit");
  ExpectQdrantError(Call("POST", path, R"({"query": "x", "top_k": 3})"), 400, "unknown field 'top_k'");
  ExpectQdrantError(Call("POST", path, R"({"query": "x", "using": "dense"})"), 400, "has no vector");
}

// Metadata goes in with documents, comes back in hits (its keys beside the
// fixed fields, which win), and filters searches in every mode.
TEST_F(ApiTest, FilteredSearchAndMetadata) {
  AddStubModels();
  StartServer();
  ASSERT_EQ(Call("PUT", "/collections/meta", R"({"vectors": {"size": 8, "distance": "Cosine"}})").status, 200);
  json docs = {{"documents",
                {{{"id", "a"}, {"text", "vacuum alpha"},
                  {"metadata", {{"lang", "en"}, {"year", 2020}, {"tags", {"db", "pg"}}, {"title", "hidden"}}}},
                 {{"id", "b"}, {"text", "vacuum beta"}, {"metadata", {{"lang", "de"}, {"year", 2022}}}},
                 {{"id", "c"}, {"text", "vacuum gamma"}}}}};
  auto upsert = Call("POST", "/collections/meta/documents", docs.dump());
  ASSERT_EQ(upsert.status, 200) << upsert.body;
  auto all = Call("POST", "/collections/meta/search", R"({"query": "vacuum", "limit": 10})");
  ASSERT_EQ(all.status, 200) << all.body;
  auto hits = all.Json()["result"]["hits"];
  ASSERT_EQ(hits.size(), 3u);
  for (const json& hit : hits) {
    if (hit["doc_id"] == "a") {
      EXPECT_EQ(hit["lang"], "en");
      EXPECT_EQ(hit["year"], 2020);
      EXPECT_EQ(hit["tags"], json({"db", "pg"}));
      EXPECT_NE(hit["title"], "hidden");  // the fixed field wins
    } else if (hit["doc_id"] == "c") {
      EXPECT_FALSE(hit.contains("lang"));
    }
  }
  auto doc = Call("GET", "/collections/meta/documents/b").Json()["result"];
  EXPECT_EQ(doc["metadata"], json({{"lang", "de"}, {"year", 2022}}));

  auto ids = [&](const std::string& body) {
    auto response = Call("POST", "/collections/meta/search", body);
    EXPECT_EQ(response.status, 200) << body << " -> " << response.body;
    const json answer = response.Json();
    std::vector<std::string> out;
    for (const json& hit : answer["result"]["hits"]) out.push_back(hit["doc_id"]);
    std::sort(out.begin(), out.end());
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids(R"({"query": "vacuum", "filter": {"must": [{"key": "lang", "match": {"value": "en"}}]}})"),
            V{"a"});
  EXPECT_EQ(ids(R"({"query": "vacuum", "filter": {"must_not": [{"key": "year", "range": {"gte": 2021}}]}})"),
            (V{"a", "c"}));
  EXPECT_EQ(ids(R"({"query": "vacuum", "filter": {"should": [{"is_empty": {"key": "lang"}},
                                                            {"key": "tags", "match": {"any": ["pg"]}}]}})"),
            (V{"a", "c"}));
  // Dense and hybrid apply it to every retriever.
  EXPECT_EQ(ids(R"({"query": "vacuum", "using": "default",
                    "filter": {"must": [{"key": "lang", "match": {"except": ["en"]}}]}})"),
            V{"b"});
  EXPECT_EQ(ids(R"({"query": "vacuum", "mode": "hybrid",
                    "filter": {"must": [{"key": "doc_id", "match": {"any": ["b", "c"]}}]}})"),
            (V{"b", "c"}));
  ExpectQdrantError(Call("POST", "/collections/meta/search",
                         R"({"query": "vacuum", "filter": {"must": [{"key": "year", "range": {"gt": "x"}}]}})"),
                    400, "filter.must[0].range.gt: expected a number");
  ExpectQdrantError(Call("POST", "/collections/meta/search", R"({"query": "vacuum", "filter": [1]})"), 400,
                    "filter: expected an object");
}

TEST_F(ApiTest, PayloadIndexRoutes) {
  StartServer();
  CreateDocsCollection();
  json docs = {{"documents",
                {{{"id", "m1"}, {"text", "index me please"}, {"metadata", {{"lang", "en"}, {"n", 1}}}},
                 {{"id", "m2"}, {"text", "index me too"}, {"metadata", {{"lang", "fr"}, {"n", 2}}}}}}};
  ASSERT_EQ(Call("POST", "/collections/docs/documents", docs.dump()).status, 200);
  auto created = Call("PUT", "/collections/docs/index", R"({"field_name": "lang", "field_schema": "keyword"})");
  ASSERT_EQ(created.status, 200) << created.body;
  EXPECT_EQ(created.Json()["result"]["status"], "completed");
  ASSERT_EQ(Call("PUT", "/collections/docs/index?wait=true",
                 R"({"field_name": "n", "field_schema": {"type": "integer", "range": true}})")
                .status,
            200);
  auto schema = Call("GET", "/collections/docs").Json()["result"]["payload_schema"];
  EXPECT_EQ(schema, json::parse(R"({"lang": {"data_type": "keyword", "points": 2},
                                     "n": {"data_type": "integer", "points": 2}})"));
  auto search = Call("POST", "/collections/docs/search",
                     R"({"query": "index", "filter": {"must": [{"key": "lang", "match": {"value": "fr"}},
                                                               {"key": "n", "range": {"gte": 2}}]}})");
  ASSERT_EQ(search.status, 200) << search.body;
  ASSERT_EQ(search.Json()["result"]["hits"].size(), 1u);
  EXPECT_EQ(search.Json()["result"]["hits"][0]["doc_id"], "m2");
  ExpectQdrantError(Call("PUT", "/collections/docs/index", R"({"field_name": "lang", "field_schema": "geo"})"),
                    400, "field_schema: 'geo' indexes are not supported");
  ExpectQdrantError(Call("PUT", "/collections/docs/index", R"({"field_schema": "keyword"})"), 400,
                    "missing field 'field_name'");
  ExpectQdrantError(Call("PUT", "/collections/none/index", R"({"field_name": "a", "field_schema": "bool"})"),
                    404, "does not exist");
  auto dropped = Call("DELETE", "/collections/docs/index/lang");
  ASSERT_EQ(dropped.status, 200) << dropped.body;
  ExpectQdrantError(Call("DELETE", "/collections/docs/index/lang"), 404, "no payload index");
  EXPECT_EQ(Call("GET", "/collections/docs").Json()["result"]["payload_schema"].size(), 1u);
}

TEST_F(ApiTest, DenseVectorsEmbedOnUpsert) {
  AddStubModels();
  StartServer();
  ASSERT_EQ(Call("PUT", "/collections/dense", R"({"vectors": {"size": 8, "distance": "Cosine"}})").status, 200);
  json body = {{"documents",
                {{{"id", "a"}, {"text", "alpha beta gamma"}},
                 {{"id", "b"}, {"text", "delta epsilon zeta"}},
                 {{"id", "c"}, {"text", "eta theta iota"}}}}};
  auto upsert = Call("POST", "/collections/dense/documents", body.dump());
  ASSERT_EQ(upsert.status, 200) << upsert.body;
  EXPECT_EQ(upsert.Json()["result"]["embedded"], true);
  auto info = Call("GET", "/collections/dense").Json()["result"];
  EXPECT_EQ(info["indexed_vectors_count"], 3);
  auto search = Call("POST", "/collections/dense/search",
                     R"({"query": "delta epsilon zeta", "using": "default", "limit": 3})");
  ASSERT_EQ(search.status, 200) << search.body;
  auto hits = search.Json()["result"]["hits"];
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(hits[0]["doc_id"], "b");
  EXPECT_NEAR(hits[0]["score"].get<double>(), 1.0, 1e-4);

  // Hybrid (the default vector found by itself), DBSF, and reranking by the
  // stub cross-encoder.
  auto hybrid = Call("POST", "/collections/dense/search",
                     R"({"query": "delta epsilon", "mode": "hybrid", "limit": 2,
                         "fusion": {"rrf": {"k": 60, "weights": [1.0, 0.5]}}})");
  ASSERT_EQ(hybrid.status, 200) << hybrid.body;
  EXPECT_EQ(hybrid.Json()["result"]["hits"][0]["doc_id"], "b");
  EXPECT_FALSE(hybrid.Json()["result"]["reranked"].get<bool>());
  auto dbsf = Call("POST", "/collections/dense/search",
                   R"({"query": "delta", "mode": "hybrid", "fusion": "dbsf"})");
  ASSERT_EQ(dbsf.status, 200) << dbsf.body;
  auto reranked = Call("POST", "/collections/dense/search",
                       R"({"query": "delta epsilon", "mode": "hybrid", "rerank": "on"})");
  ASSERT_EQ(reranked.status, 200) << reranked.body;
  EXPECT_TRUE(reranked.Json()["result"]["reranked"].get<bool>());
  ExpectQdrantError(Call("POST", "/collections/dense/search", R"({"query": "x", "mode": "semantic"})"),
                    400, "mode");
  ExpectQdrantError(Call("POST", "/collections/dense/search", R"({"query": "x", "rerank": "yes"})"),
                    400, "rerank");
  ExpectQdrantError(Call("POST", "/collections/dense/search",
                         R"({"query": "x", "mode": "hybrid", "fusion": {"rrf": {"weights": [1]}}})"),
                    400, "weights");
  ExpectQdrantError(Call("POST", "/collections/dense/search", R"({"query": "x", "fusion": "max"})"),
                    400, "fusion");

  // A vector whose name is a model id uses that model.
  ASSERT_EQ(Call("PUT", "/collections/named", R"({"vectors": {"mrl": {"size": 16, "distance": "Dot"}}})").status,
            200);
  EXPECT_EQ(Call("POST", "/collections/named/documents", body.dump()).status, 200);
  // No model has 4 dimensions.
  ASSERT_EQ(Call("PUT", "/collections/wrong", R"({"vectors": {"size": 4, "distance": "Dot"}})").status, 200);
  ExpectQdrantError(Call("POST", "/collections/wrong/documents", body.dump()), 400, "dimensions");
  ExpectQdrantError(Call("POST", "/collections/wrong/search", R"({"query": "x", "using": "default"})"), 400,
                    "dimensions");
}

TEST_F(ApiTest, OpenAiEmbeddings) {
  AddStubModels();
  StartServer();
  auto one = Call("POST", "/v1/embeddings", R"({"input": "hello world", "model": "stub-embed"})");
  ASSERT_EQ(one.status, 200) << one.body;
  json body = one.Json();
  EXPECT_EQ(body["object"], "list");
  EXPECT_EQ(body["model"], "stub-embed");
  ASSERT_EQ(body["data"].size(), 1u);
  EXPECT_EQ(body["data"][0]["object"], "embedding");
  EXPECT_EQ(body["data"][0]["index"], 0);
  ASSERT_EQ(body["data"][0]["embedding"].size(), 8u);
  EXPECT_EQ(body["usage"]["prompt_tokens"], 4);
  EXPECT_EQ(body["usage"]["total_tokens"], 4);
  std::vector<float> floats = body["data"][0]["embedding"].get<std::vector<float>>();

  // Default model, array input, base64 holds the same float32 values.
  auto b64 = Call("POST", "/v1/embeddings", R"({"input": ["hello world", "x"], "encoding_format": "base64"})");
  ASSERT_EQ(b64.status, 200) << b64.body;
  std::string encoded = b64.Json()["data"][0]["embedding"];
  std::string decoded;
  {
    static const std::string kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t acc = 0;
    int bits = 0;
    for (char c : encoded) {
      if (c == '=') break;
      acc = (acc << 6) | static_cast<uint32_t>(kAlphabet.find(c));
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        decoded.push_back(static_cast<char>((acc >> bits) & 0xFF));
      }
    }
  }
  ASSERT_EQ(decoded.size(), 8 * sizeof(float));
  std::vector<float> from_b64(8);
  std::memcpy(from_b64.data(), decoded.data(), decoded.size());
  EXPECT_EQ(from_b64, floats);
  EXPECT_EQ(b64.Json()["data"][1]["index"], 1);

  // dimensions: refused for a model that does not allow it, truncated and
  // renormalised for one that does.
  ExpectOpenAiError(Call("POST", "/v1/embeddings", R"({"input": "a", "dimensions": 4})"), 400,
                    "does not support 'dimensions'");
  EXPECT_EQ(Call("POST", "/v1/embeddings", R"({"input": "a", "dimensions": 8})").status, 200);
  auto short_vec = Call("POST", "/v1/embeddings", R"({"input": "a", "model": "mrl", "dimensions": 4})");
  ASSERT_EQ(short_vec.status, 200) << short_vec.body;
  auto values = short_vec.Json()["data"][0]["embedding"].get<std::vector<double>>();
  ASSERT_EQ(values.size(), 4u);
  double norm = 0;
  for (double value : values) norm += value * value;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  ExpectOpenAiError(Call("POST", "/v1/embeddings", R"({"input": "a", "model": "mrl", "dimensions": 17})"), 400,
                    "at most 16");

  // The stub model takes text only; token ids reach real models (serve_e2e_test).
  ExpectOpenAiError(Call("POST", "/v1/embeddings", R"({"input": [1, 2, 3]})"), 400, "text only");
  ExpectOpenAiError(Call("POST", "/v1/embeddings", R"({"input": "a", "model": "gpt"})"), 404, "not loaded");
  ExpectOpenAiError(Call("POST", "/v1/embeddings", R"({"input": []})"), 400, "empty");
  ExpectOpenAiError(Call("POST", "/v1/embeddings", R"({"input": {"text": "a"}})"), 400, "input");
  ExpectOpenAiError(Call("POST", "/v1/embeddings", R"({"input": "a", "encoding_format": "int8"})"), 400,
                    "encoding_format");
  ExpectOpenAiError(Call("POST", "/v1/embeddings", "{\"input\": \"\xff\"}"), 400, "UTF-8");
  ExpectOpenAiError(Call("POST", "/v1/embeddings", "nope"), 400, "malformed JSON");
  json many = {{"input", std::vector<std::string>(65, "x")}};
  ExpectOpenAiError(Call("POST", "/v1/embeddings", many.dump()), 413, "at most 64");
}

TEST_F(ApiTest, OpenAiEmbeddingsWithoutModels) {
  StartServer();
  ExpectOpenAiError(Call("POST", "/v1/embeddings", R"({"input": "a"})"), 404, "--model");
  ExpectOpenAiError(Call("POST", "/v1/rerank", R"({"query": "a", "documents": ["b"]})"), 404, "--reranker");
  EXPECT_EQ(Call("GET", "/v1/models").Json()["data"], json::array());
}

TEST_F(ApiTest, Rerank) {
  AddStubModels();
  StartServer();
  auto response = Call("POST", "/v1/rerank",
                       R"({"model": "stub-rerank", "query": "red apple",
                           "documents": ["a green pear", {"text": "red apple pie"}, "a red car"],
                           "top_n": 2})");
  ASSERT_EQ(response.status, 200) << response.body;
  json body = response.Json();
  EXPECT_EQ(body["model"], "stub-rerank");
  ASSERT_EQ(body["results"].size(), 2u);
  EXPECT_EQ(body["results"][0]["index"], 1);
  EXPECT_EQ(body["results"][0]["document"]["text"], "red apple pie");
  EXPECT_EQ(body["results"][1]["index"], 2);
  EXPECT_GT(body["results"][0]["relevance_score"].get<double>(),
            body["results"][1]["relevance_score"].get<double>());
  EXPECT_NEAR(body["results"][0]["relevance_score"].get<double>(), 1 / (1 + std::exp(-1.0)), 1e-5);
  EXPECT_GT(body["usage"]["total_tokens"].get<int>(), 0);
  auto bare = Call("POST", "/v1/rerank",
                   R"({"query": "red", "documents": ["red"], "return_documents": false})");
  EXPECT_FALSE(bare.Json()["results"][0].contains("document"));
  ExpectOpenAiError(Call("POST", "/v1/rerank", R"({"query": "a"})"), 400, "documents");
  ExpectOpenAiError(Call("POST", "/v1/rerank", R"({"query": "a", "documents": [3]})"), 400, "documents[0]");
  ExpectOpenAiError(Call("POST", "/v1/rerank", R"({"query": "", "documents": ["a"]})"), 400, "query");
  ExpectOpenAiError(Call("POST", "/v1/rerank", R"({"query": "a", "documents": ["a"], "model": "x"})"), 404);
  json many = {{"query", "q"}, {"documents", std::vector<std::string>(33, "x")}};
  ExpectOpenAiError(Call("POST", "/v1/rerank", many.dump()), 413);
}

TEST_F(ApiTest, TeiRoutes) {
  AddStubModels();
  StartServer();
  auto single = Call("POST", "/embed", R"({"inputs": "hello"})");
  ASSERT_EQ(single.status, 200) << single.body;
  json vectors = single.Json();
  ASSERT_TRUE(vectors.is_array());
  ASSERT_EQ(vectors.size(), 1u);
  EXPECT_EQ(vectors[0].size(), 8u);
  auto batch = Call("POST", "/embed", R"({"inputs": ["a", "b", "c"], "normalize": true})");
  EXPECT_EQ(batch.Json().size(), 3u);
  auto rerank = Call("POST", "/rerank", R"({"query": "red", "texts": ["blue", "red"], "return_text": true})");
  ASSERT_EQ(rerank.status, 200) << rerank.body;
  json ranked = rerank.Json();
  ASSERT_EQ(ranked.size(), 2u);
  EXPECT_EQ(ranked[0]["index"], 1);
  EXPECT_EQ(ranked[0]["text"], "red");
  auto raw = Call("POST", "/rerank", R"({"query": "red", "texts": ["red"], "raw_scores": true})");
  EXPECT_NEAR(raw.Json()[0]["score"].get<double>(), 0.0, 1e-6);
  for (const auto& [path, body] : std::vector<std::pair<std::string, std::string>>{
           {"/embed", R"({"inputs": 3})"},
           {"/embed", R"({})"},
           {"/embed", "{"},
           {"/rerank", R"({"query": "q"})"},
           {"/rerank", R"({"query": "q", "texts": [1]})"}}) {
    auto response = Call("POST", path, body);
    EXPECT_EQ(response.status, 400) << path << " " << body;
    EXPECT_TRUE(response.Json()["error"].is_string()) << response.body;
    EXPECT_EQ(response.Json()["error_type"], "validation") << response.body;
  }
  auto models = Call("GET", "/v1/models").Json();
  EXPECT_EQ(models["object"], "list");
  ASSERT_EQ(models["data"].size(), 3u);
  EXPECT_EQ(models["data"][0]["id"], "stub-embed");
  EXPECT_EQ(models["data"][2]["type"], "rerank");
}

TEST_F(ApiTest, UnknownRoutesAndMethods) {
  StartServer();
  ExpectQdrantError(Call("GET", "/nope"), 404, "no route");
  auto wrong = Call("PATCH", "/collections/x");
  ExpectQdrantError(wrong, 405, "not allowed");
  EXPECT_EQ(wrong.Header("allow"), "GET, PUT, DELETE");
  ExpectOpenAiError(Call("GET", "/v1/embeddings"), 405);
}

TEST_F(ApiTest, ApiKeys) {
  ApiOptions options;
  options.api_key = "rw-secret";
  options.read_only_api_key = "ro-secret";
  StartServer(options);
  EXPECT_EQ(Call("GET", "/healthz").status, 200);  // probes need no key
  EXPECT_EQ(Call("GET", "/").status, 200);
  ExpectQdrantError(Call("GET", "/collections"), 401, "API key");
  ExpectQdrantError(Call("GET", "/collections", "", {"api-key: wrong"}), 401);
  ExpectQdrantError(Call("GET", "/collections", "", {"api-key: rw-secre"}), 401);
  ExpectQdrantError(Call("GET", "/nope"), 401);  // no route information without a key
  EXPECT_EQ(Call("GET", "/collections", "", {"api-key: ro-secret"}).status, 200);
  EXPECT_EQ(Call("GET", "/collections", "", {"Authorization: Bearer ro-secret"}).status, 200);
  ExpectQdrantError(Call("PUT", "/collections/k", "{}", {"api-key: ro-secret"}), 403, "read-only");
  EXPECT_EQ(Call("PUT", "/collections/k", "{}", {"api-key: rw-secret"}).status, 200);
  EXPECT_EQ(Call("PUT", "/collections/k2", "{}", {"Authorization: bearer rw-secret"}).status, 200);
  EXPECT_EQ(Call("POST", "/collections/k/search", R"({"query": "x"})", {"api-key: ro-secret"}).status, 200);
  ExpectQdrantError(Call("DELETE", "/collections/k", "", {"api-key: ro-secret"}), 403);
  ExpectOpenAiError(Call("POST", "/v1/embeddings", R"({"input": "a"})"), 401);
  EXPECT_EQ(Call("GET", "/metrics", "", {"api-key: ro-secret"}).status, 200);
  ExpectQdrantError(Call("GET", "/metrics"), 401);
}

TEST_F(ApiTest, MetricsExposition) {
  StartServer();
  CreateDocsCollection();
  Call("GET", "/healthz");
  Call("GET", "/nope");
  Call("POST", "/collections/docs/search", R"({"query": "vacuum"})");
  auto metrics = Call("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.Header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = metrics.body;
  EXPECT_NE(text.find("quarry_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("quarry_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("quarry_http_request_duration_seconds_bucket{method=\"POST\",route=\"/collections/"
                      "{name}/search\",status=\"200\",le=\"+Inf\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("process_resident_memory_bytes "), std::string::npos);
  EXPECT_NE(text.find("quarry_collection_documents{collection=\"docs\"} 3"), std::string::npos);
  EXPECT_NE(text.find("quarry_collection_points{collection=\"docs\"}"), std::string::npos);
  EXPECT_NE(text.find("quarry_http_open_connections "), std::string::npos);
}

// 1,000 malformed requests of many kinds; the server answers each with a 4xx
// (or closes a connection whose bytes never form a request) and afterwards
// still serves correct answers.
TEST_F(ApiTest, SurvivesMalformedRequestFlood) {
  AddStubModels();
  ServerOptions server_options;
  server_options.limits.max_header_bytes = 8 << 10;
  server_options.limits.max_body_bytes = 1 << 20;
  StartServer({}, server_options);
  CreateDocsCollection();

  const std::vector<std::string> json_routes = {
      "/collections/docs/documents", "/collections/docs/search", "/v1/embeddings",
      "/v1/rerank",                  "/embed",                   "/rerank"};
  const std::vector<std::string> valid_bodies = {
      R"({"documents": [{"id": "z", "text": "zebra"}]})", R"({"query": "vacuum"})",
      R"({"input": ["a", "b"]})", R"({"query": "q", "documents": ["a"]})", R"({"inputs": "a"})",
      R"({"query": "q", "texts": ["a"]})"};
  const std::vector<std::string> wrong_type_bodies = {
      R"({"documents": [{"id": {}, "text": "x"}]})", R"({"query": ["vacuum"]})",
      R"({"input": [true]})", R"({"query": "q", "documents": [null]})", R"({"inputs": [1.5]})",
      R"({"query": "q", "texts": [[]]})"};

  struct Case {
    std::string bytes;
    int expect;         // exact status; 0: any 4xx or a close without answer
    bool shutdown = false;  // half-close after sending (bytes that never end a request)
  };
  std::mt19937 rng(1234);
  auto random_bytes = [&](size_t n) {
    std::string out(n, '\0');
    for (char& c : out) c = static_cast<char>(rng() & 0xFF);
    return out;
  };
  std::vector<Case> cases;
  for (int case_idx = 0; case_idx < 1000; ++case_idx) {
    size_t route = rng() % json_routes.size();
    std::string valid = TestClient::Format("POST", json_routes[route], valid_bodies[route]);
    switch (case_idx % 10) {
      case 0:  // random bytes
        cases.push_back({random_bytes(1 + rng() % 2000), 0, true});
        break;
      case 1: {  // truncated header
        size_t head_end = valid.find("\r\n\r\n");
        cases.push_back({valid.substr(0, 1 + rng() % head_end), 0, true});
        break;
      }
      case 2: {  // bad Content-Length
        static const char* kLengths[] = {"abc", "-1", "1e3", "", "5, 6", "0x10", " ", "+5"};
        std::string length = kLengths[rng() % 8];
        cases.push_back({"POST " + json_routes[route] + " HTTP/1.1\r\nHost: a\r\nContent-Length: " + length +
                             "\r\n\r\n{}",
                         400});
        break;
      }
      case 3: {  // huge headers or huge declared body
        if (rng() % 2) {
          cases.push_back({"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(9000 + rng() % 20000, 'b') +
                               "\r\n\r\n",
                           431});
        } else {
          cases.push_back({"POST " + json_routes[route] +
                               " HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n",
                           413});
        }
        break;
      }
      case 4: {  // malformed JSON
        std::string body = valid_bodies[route];
        body = body.substr(0, rng() % body.size()) + ",,";  // a cut object never parses
        cases.push_back({TestClient::Format("POST", json_routes[route], body), 400});
        break;
      }
      case 5: {  // invalid UTF-8 inside a JSON string
        std::string body = valid_bodies[route];
        size_t quote = body.rfind('"');
        body.insert(quote, std::string(1, static_cast<char>(0x80 + rng() % 0x40)) + "\xff");
        cases.push_back({TestClient::Format("POST", json_routes[route], body), 400});
        break;
      }
      case 6:  // wrong types
        cases.push_back({TestClient::Format("POST", json_routes[route], wrong_type_bodies[route]), 400});
        break;
      case 7: {  // a body that is not an object, or not JSON at all
        static const char* kBodies[] = {"[]", "null", "42", "\"s\"", "\x01\x02", "{\"a\":", "{}}"};
        cases.push_back({TestClient::Format("POST", json_routes[route], kBodies[rng() % 7]), 400});
        break;
      }
      case 8: {  // bad request lines and framing
        static const char* kLines[] = {
            "GET / HTTP/1.1\r\n\r\n",                       // no Host
            "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/9.9\r\nHost: a\r\n\r\n",
            "POST /embed HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n bad fold\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nNo-Colon\r\n\r\n",
            "\x16\x03\x01\x02\x01\x01\xfc\x03\x03\r\n\r\n",  // TLS hello-ish
        };
        static const int kExpect[] = {400, 400, 505, 411, 400, 400, 400};
        size_t pick = rng() % 7;
        cases.push_back({kLines[pick], kExpect[pick]});
        break;
      }
      case 9: {  // random mutations of a valid request
        std::string bytes = valid;
        for (int flip = 0; flip < 3; ++flip) bytes[rng() % bytes.size()] = static_cast<char>(rng() & 0xFF);
        cases.push_back({bytes, 0, true});
        break;
      }
    }
  }

  std::atomic<size_t> next{0};
  std::atomic<int> server_errors{0};
  std::atomic<int> mismatches{0};
  std::mutex report_mu;
  std::vector<std::string> reports;
  std::vector<std::thread> threads;
  for (int thread_idx = 0; thread_idx < 8; ++thread_idx) {
    threads.emplace_back([&] {
      for (size_t case_idx = next++; case_idx < cases.size(); case_idx = next++) {
        const Case& c = cases[case_idx];
        TestClient client(port_, std::chrono::seconds(10));
        if (!client.SendRaw(c.bytes)) continue;  // reset while sending: fine
        if (c.shutdown) client.ShutdownWrite();
        auto response = client.ReadResponse();
        if (!response) {
          if (c.expect != 0 || !client.WaitClosed()) {
            ++mismatches;
            std::lock_guard lock(report_mu);
            reports.push_back("case " + std::to_string(case_idx) + ": no answer");
          }
          continue;
        }
        // 501 (unknown transfer coding) and 505 (HTTP version) are the RFC's
        // answers to malformed framing, not failures.
        if (response->status >= 500 && response->status != 501 && response->status != 505) {
          ++server_errors;
        }
        bool good = c.expect != 0 ? response->status == c.expect
                                  : (response->status >= 400 && response->status < 500) ||
                                        response->status == 200 || response->status == 505 ||
                                        response->status == 501;
        nlohmann::json body = response->Json();
        bool json_error = body.is_object() && (body.contains("status") || body.contains("error"));
        if (response->status >= 400 && !json_error) good = false;
        if (!good) {
          ++mismatches;
          std::lock_guard lock(report_mu);
          reports.push_back("case " + std::to_string(case_idx) + ": " + std::to_string(response->status) +
                            " " + response->body.substr(0, 200));
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(server_errors.load(), 0);
  for (size_t report_idx = 0; report_idx < reports.size() && report_idx < 20; ++report_idx) {
    ADD_FAILURE() << reports[report_idx];
  }

  // Still healthy and correct.
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  auto search = Call("POST", "/collections/docs/search", R"({"query": "vacuum dead tuples"})");
  ASSERT_EQ(search.status, 200);
  EXPECT_EQ(search.Json()["result"]["hits"][0]["doc_id"], "pg-vacuum");
  auto embed = Call("POST", "/v1/embeddings", R"({"input": "still here"})");
  EXPECT_EQ(embed.status, 200);
  // A JSON-level error keeps the connection open.
  TestClient client(port_);
  auto bad = client.Request("POST", "/collections/docs/search", "{");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  auto good = client.Request("POST", "/collections/docs/search", R"({"query": "replication"})");
  ASSERT_TRUE(good);
  EXPECT_EQ(good->status, 200);
}

// Real (tiny, random) models generated at test time.
class TinyModelApiTest : public ApiTest {
 protected:
  static void SetUpTestSuite() {
    if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) return;
    models_dir_ = std::filesystem::temp_directory_path() / ("quarry_tiny_models_" + std::to_string(::getpid()));
    std::filesystem::create_directories(models_dir_);
    std::string tool = std::string(QUARRY_SOURCE_DIR) + "/tools/make_tiny_model.py";
    for (const char* preset : {"tiny-bert", "tiny-bert-ce"}) {
      std::string command = "/usr/bin/python3 " + tool + " --out " + (models_dir_ / preset).string() +
                            " --preset " + preset + " >/dev/null 2>&1";
      if (std::system(command.c_str()) != 0) return;
    }
    available_ = true;
  }
  static void TearDownTestSuite() {
    if (!models_dir_.empty()) std::filesystem::remove_all(models_dir_);
  }
  static inline std::filesystem::path models_dir_;
  static inline bool available_ = false;
};

TEST_F(TinyModelApiTest, EmbeddingsAndRerankWithRealModels) {
  if (!available_) GTEST_SKIP() << "/usr/bin/python3 with numpy is needed to generate tiny models";
  embed::LocalModelOptions options;
  options.threads = 1;
  auto embedder = embed::OpenLocalEmbedder(models_dir_ / "tiny-bert", options);
  ASSERT_TRUE(embedder.ok()) << embedder.status().message();
  auto reranker = embed::OpenLocalReranker(models_dir_ / "tiny-bert-ce", options);
  ASSERT_TRUE(reranker.ok()) << reranker.status().message();
  size_t dim = (*embedder)->dim();
  ASSERT_TRUE(models_.AddEmbedder({std::move(embedder).value(), false, nullptr}).ok());
  ASSERT_TRUE(models_.AddReranker({std::move(reranker).value(), nullptr}).ok());
  StartServer();

  auto embeddings = Call("POST", "/v1/embeddings", R"({"input": ["the quick brown fox", "lazy dog"], "model": "tiny-bert"})");
  ASSERT_EQ(embeddings.status, 200) << embeddings.body;
  json body = embeddings.Json();
  ASSERT_EQ(body["data"].size(), 2u);
  EXPECT_EQ(body["data"][1]["embedding"].size(), dim);
  EXPECT_NE(body["data"][0]["embedding"], body["data"][1]["embedding"]);

  auto tei = Call("POST", "/embed", R"({"inputs": "the quick brown fox"})");
  ASSERT_EQ(tei.status, 200) << tei.body;
  auto a = tei.Json()[0].get<std::vector<double>>();
  auto b = body["data"][0]["embedding"].get<std::vector<double>>();
  ASSERT_EQ(a.size(), b.size());
  double dot = 0;
  for (size_t i = 0; i < a.size(); ++i) dot += a[i] * b[i];
  EXPECT_NEAR(dot, 1.0, 1e-3);  // same text, same (normalised) vector

  auto rerank = Call("POST", "/v1/rerank",
                     R"({"query": "fox", "documents": ["the quick brown fox", "a lazy dog", "cats"]})");
  ASSERT_EQ(rerank.status, 200) << rerank.body;
  json results = rerank.Json()["results"];
  ASSERT_EQ(results.size(), 3u);
  for (size_t rank = 1; rank < results.size(); ++rank) {
    EXPECT_GE(results[rank - 1]["relevance_score"].get<double>(), results[rank]["relevance_score"].get<double>());
  }
  auto tei_rerank = Call("POST", "/rerank", R"({"query": "fox", "texts": ["fox", "dog"]})");
  ASSERT_EQ(tei_rerank.status, 200) << tei_rerank.body;
  EXPECT_EQ(tei_rerank.Json().size(), 2u);

  // Documents embedded with the real model into a matching dense vector.
  json create = {{"vectors", {{"size", dim}, {"distance", "Cosine"}}}};
  ASSERT_EQ(Call("PUT", "/collections/real", create.dump()).status, 200);
  json docs = {{"documents", {{{"id", "1"}, {"text", "the quick brown fox"}}, {{"id", "2"}, {"text", "a lazy dog"}}}}};
  auto upsert = Call("POST", "/collections/real/documents", docs.dump());
  ASSERT_EQ(upsert.status, 200) << upsert.body;
  EXPECT_EQ(upsert.Json()["result"]["embedded"], true);
  auto search = Call("POST", "/collections/real/search", R"({"query": "a lazy dog", "using": "default"})");
  ASSERT_EQ(search.status, 200) << search.body;
  EXPECT_EQ(search.Json()["result"]["hits"][0]["doc_id"], "2");
}

}  // namespace
}  // namespace quarry::server

namespace quarry::server {
namespace {

// The result cache behind /collections/{name}/search: a repeat is served from
// it, a write makes it compute afresh, and /metrics counts both.
TEST_F(ApiTest, SearchResultCacheAndItsMetrics) {
  cache::CacheOptions cache_options;
  cache_options.memory_bytes = 1 << 20;
  auto cache = std::move(cache::LayeredCache::Open(cache_options)).value();
  ApiOptions options;
  options.cache = cache.get();
  StartServer(options);
  CreateDocsCollection();
  const std::string query = R"({"query": "vacuum dead tuples", "limit": 2})";
  auto first = Call("POST", "/collections/docs/search", query).Json()["result"];
  auto second = Call("POST", "/collections/docs/search", query).Json()["result"];
  EXPECT_EQ(first["cached"], false);
  EXPECT_EQ(second["cached"], true);
  EXPECT_EQ(second["hits"], first["hits"]);
  json more = {{"documents", {{{"id", "more"}, {"text", "Vacuum vacuum dead tuples dead tuples."}}}}};
  ASSERT_EQ(Call("POST", "/collections/docs/documents", more.dump()).status, 200);
  auto third = Call("POST", "/collections/docs/search", query).Json()["result"];
  EXPECT_EQ(third["cached"], false);
  EXPECT_EQ(third["hits"][0]["doc_id"], "more");

  const std::string metrics = Call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("quarry_searches_total{outcome=\"cached\"} 1\n"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("quarry_searches_total{outcome=\"computed\"} 2\n"), std::string::npos);
  EXPECT_NE(metrics.find("# TYPE quarry_cache_hits_total counter\n"), std::string::npos);
  EXPECT_NE(metrics.find("quarry_cache_hits_total{layer=\"memory\",kind=\"search_result\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("quarry_cache_hit_ratio{kind=\"search_result\"} 0.333"),
            std::string::npos);
  EXPECT_NE(metrics.find("quarry_cache_redis_up 0\n"), std::string::npos);
  EXPECT_NE(metrics.find("quarry_search_stage_duration_seconds_count{stage=\"sparse\"} 2\n"),
            std::string::npos);
  server_->Stop();  // the service points to the cache: both go before it
  server_.reset();
  service_.reset();
}

}  // namespace
}  // namespace quarry::server
