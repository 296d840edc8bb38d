// The points API of Collection: ids, vectors, payloads, sparse vectors,
// payload updates, scroll, count, and their survival across reopen.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "common/file_util.h"
#include "quarry/engine.h"

namespace quarry {
namespace {

using nlohmann::json;

constexpr const char* kUuid = "550e8400-e29b-41d4-a716-446655440000";

class PointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("quarry_points_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Open();
    CollectionOptions options;
    options.dense_vectors.push_back({"dense", 4, VectorMetric::kCosine});
    options.dense_vectors.push_back({"l2", 2, VectorMetric::kL2});
    options.sparse_vectors.push_back({"splade", false});
    options.sparse_vectors.push_back({"idf", true});
    auto created = engine_->GetOrCreateCollection("c", options);
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    collection_ = *created;
  }
  void TearDown() override {
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open() {
    EngineOptions options;
    options.data_dir = dir_;
    auto engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value();
  }
  void Reopen() {
    engine_.reset();
    Open();
    auto c = engine_->GetCollection("c");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    collection_ = *c;
  }

  static PointStruct Point(PointId id, std::vector<float> dense, json payload = json::object()) {
    PointStruct p;
    p.id = std::move(id);
    p.payload = payload.empty() ? "" : payload.dump();
    if (!dense.empty()) p.vectors.emplace_back("dense", std::move(dense));
    return p;
  }

  std::vector<std::string> Ids(const SearchResponse& response) {
    std::vector<std::string> out;
    auto records = collection_->RetrieveByPointIds(
        [&] {
          std::vector<uint64_t> ids;
          for (const auto& hit : response.hits) ids.push_back(hit.point_id);
          return ids;
        }(),
        false);
    EXPECT_TRUE(records.ok());
    for (const auto& r : *records) out.push_back(r ? r->id.ToString() : "?");
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Engine> engine_;
  Collection* collection_ = nullptr;
};

TEST_F(PointsTest, UuidsAreCanonicalised) {
  EXPECT_EQ(*CanonicalUuid("550E8400E29B41D4A716446655440000"), kUuid);
  EXPECT_EQ(*CanonicalUuid(std::string("urn:uuid:") + kUuid), kUuid);
  EXPECT_FALSE(CanonicalUuid("550e8400-e29b-41d4-a716-44665544000").ok());
  EXPECT_FALSE(CanonicalUuid("550e8400-e29b-41d4-a716-44665544000g").ok());
  EXPECT_FALSE(CanonicalUuid("42").ok());
}

TEST_F(PointsTest, UpsertRetrieveReplaceAndReopen) {
  std::vector<PointStruct> points;
  points.push_back(Point(PointId::Num(7), {1, 0, 0, 0}, {{"city", "Berlin"}, {"n", 1}}));
  PointStruct uuid_point = Point(PointId{0, "550E8400-E29B-41D4-A716-446655440000"}, {0, 1, 0, 0},
                                 {{"city", "Paris"}});
  uuid_point.sparse_vectors.emplace_back("splade", SparseVector{{3, 9}, {0.5f, 2.0f}});
  uuid_point.vectors.emplace_back("l2", std::vector<float>{1, 2});
  points.push_back(uuid_point);
  points.push_back(Point(PointId::Num(0), {}, {}));  // no vectors, no payload
  auto stats = collection_->UpsertPoints(points);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->added, 3u);

  auto check = [&] {
    std::vector<PointId> ids = {PointId::Num(7), PointId{0, kUuid}, PointId::Num(0),
                                PointId::Num(8)};
    auto records = collection_->RetrievePoints(ids, true);
    ASSERT_TRUE(records.ok()) << records.status().ToString();
    ASSERT_TRUE((*records)[0].has_value());
    EXPECT_EQ((*records)[0]->id, PointId::Num(7));
    EXPECT_EQ((*records)[0]->point_id, 7u);
    EXPECT_EQ(json::parse((*records)[0]->chunk.metadata), json({{"city", "Berlin"}, {"n", 1}}));
    ASSERT_EQ((*records)[0]->vectors.size(), 1u);
    EXPECT_EQ((*records)[0]->vectors[0].second, std::vector<float>({1, 0, 0, 0}));
    ASSERT_TRUE((*records)[1].has_value());
    EXPECT_EQ((*records)[1]->id.uuid, kUuid);
    ASSERT_EQ((*records)[1]->sparse_vectors.size(), 1u);
    EXPECT_EQ((*records)[1]->sparse_vectors[0].second.indices, std::vector<uint32_t>({3, 9}));
    EXPECT_EQ((*records)[1]->vectors.size(), 2u);
    ASSERT_TRUE((*records)[2].has_value());
    EXPECT_TRUE((*records)[2]->vectors.empty());
    EXPECT_FALSE((*records)[3].has_value());
    EXPECT_EQ(*collection_->CountPoints(std::nullopt), 3u);
  };
  check();
  // The same points again: nothing is written.
  auto again = collection_->UpsertPoints(points);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->unchanged, 3u);
  EXPECT_EQ(again->chunks_written, 0u);
  Reopen();
  check();
  // A replacement keeps the UUID's internal id and drops the old vectors.
  auto before = collection_->ResolvePointIds(std::vector<PointId>{PointId{0, kUuid}});
  PointStruct replaced = Point(PointId{0, kUuid}, {0, 0, 1, 0}, {{"city", "Rome"}});
  ASSERT_TRUE(collection_->UpsertPoints({replaced}).ok());
  auto after = collection_->ResolvePointIds(std::vector<PointId>{PointId{0, kUuid}});
  EXPECT_EQ(*before, *after);
  auto records = collection_->RetrievePoints(std::vector<PointId>{PointId{0, kUuid}}, true);
  EXPECT_EQ((*records)[0]->vectors.size(), 1u);
  EXPECT_TRUE((*records)[0]->sparse_vectors.empty());
  SparseQuery sparse{"splade", {{9}, {1.0f}}};
  SearchRequest request;
  request.sparse = sparse;
  EXPECT_TRUE(collection_->Search(request)->hits.empty());
}

TEST_F(PointsTest, BadPointsAreRefusedWhole) {
  std::vector<std::pair<PointStruct, std::string>> bad;
  bad.push_back({Point(PointId::Num(1), {1, 2, 3}), "dimension 3"});
  bad.push_back({Point(PointId::Num(1), {1, NAN, 3, 4}), "non-finite"});
  PointStruct unknown = Point(PointId::Num(1), {});
  unknown.vectors.emplace_back("nope", std::vector<float>{1});
  bad.push_back({unknown, "no dense vector 'nope'"});
  PointStruct dup = Point(PointId::Num(1), {});
  dup.sparse_vectors.emplace_back("splade", SparseVector{{4, 4}, {1, 1}});
  bad.push_back({dup, "index 4 twice"});
  PointStruct ragged = Point(PointId::Num(1), {});
  ragged.sparse_vectors.emplace_back("splade", SparseVector{{4, 5}, {1}});
  bad.push_back({ragged, "2 indices but 1 values"});
  PointStruct payload = Point(PointId::Num(1), {});
  payload.payload = "[1,2]";
  bad.push_back({payload, "not a JSON object"});
  bad.push_back({Point(PointId{0, "xyz"}, {}), "not a valid point id"});
  for (auto& [point, message] : bad) {
    auto result = collection_->UpsertPoints({Point(PointId::Num(99), {1, 1, 1, 1}), point});
    ASSERT_FALSE(result.ok()) << message;
    EXPECT_NE(result.status().message().find(message), std::string::npos)
        << result.status().message();
  }
  EXPECT_EQ(*collection_->CountPoints(std::nullopt), 0u);  // the good point was not written either
  // Cosine vectors are stored normalised (as Qdrant does); others as given.
  PointStruct scaled = Point(PointId::Num(5), {2, 0, 0, 0});
  scaled.vectors.emplace_back("l2", std::vector<float>{3, 4});
  ASSERT_TRUE(collection_->UpsertPoints({scaled}).ok());
  auto records = collection_->RetrievePoints(std::vector<PointId>{PointId::Num(5)}, true);
  ASSERT_EQ((*records)[0]->vectors.size(), 2u);
  EXPECT_EQ((*records)[0]->vectors[0].second, std::vector<float>({1, 0, 0, 0}));
  EXPECT_EQ((*records)[0]->vectors[1].second, std::vector<float>({3, 4}));
}

TEST_F(PointsTest, PointsAndDocumentsShareTheIdSpace) {
  Document doc;
  doc.doc_id = "doc";
  doc.text = "Vacuum reclaims storage.";
  ASSERT_TRUE(collection_->Upsert({doc}).ok());
  auto chunk_ids = collection_->ResolvePointIds(std::vector<PointId>{PointId::Num(1)});
  ASSERT_EQ(chunk_ids->size(), 1u);  // the document's chunk is point 1
  auto clash = collection_->UpsertPoints({Point(PointId::Num(1), {1, 0, 0, 0})});
  ASSERT_FALSE(clash.ok());
  EXPECT_NE(clash.status().message().find("document 'doc'"), std::string::npos);
  // Points take ids 2 and 3; the next document's chunks go around them.
  ASSERT_TRUE(collection_->UpsertPoints({Point(PointId::Num(2), {1, 0, 0, 0}),
                                         Point(PointId::Num(3), {0, 1, 0, 0})})
                  .ok());
  Document second;
  second.doc_id = "second";
  second.text = "Replication ships the write-ahead log.";
  ASSERT_TRUE(collection_->Upsert({second}).ok());
  auto chunks = collection_->GetDocumentChunks("second");
  ASSERT_TRUE(chunks.ok());
  auto page = collection_->Scroll({});
  ASSERT_TRUE(page.ok());
  std::vector<std::string> ids;
  for (const auto& record : page->points) ids.push_back(record.id.ToString());
  EXPECT_EQ(ids, std::vector<std::string>({"1", "2", "3", "4"}));
  // Deleting a document's chunk through the points API leaves the document
  // without it; deleting its last chunk removes the document.
  ASSERT_EQ(*collection_->DeletePoints({{PointId::Num(4)}, std::nullopt}), 1u);
  EXPECT_FALSE(collection_->GetDocumentChunks("second").ok());
  // Document ids may not pose as points.
  Document fake;
  fake.doc_id = std::string(1, kPointKeyMark) + "5";
  fake.text = "x";
  EXPECT_FALSE(collection_->Upsert({fake}).ok());
}

TEST_F(PointsTest, SparseSearchMatchesBruteForce) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> dim(0, 40);
  std::uniform_real_distribution<float> weight(-1.0f, 2.0f);
  std::map<uint64_t, SparseVector> stored;
  std::vector<PointStruct> points;
  for (uint64_t id = 1; id <= 300; ++id) {
    SparseVector v;
    std::vector<uint32_t> dims;
    for (int j = 0; j < 6; ++j) dims.push_back(dim(rng));
    std::sort(dims.begin(), dims.end());
    dims.erase(std::unique(dims.begin(), dims.end()), dims.end());
    for (uint32_t d : dims) {
      v.indices.push_back(d);
      v.values.push_back(weight(rng));
    }
    PointStruct p = Point(PointId::Num(id), {}, {{"even", id % 2 == 0}});
    p.sparse_vectors.emplace_back("splade", v);
    stored[id] = v;
    points.push_back(std::move(p));
  }
  ASSERT_TRUE(collection_->UpsertPoints(points).ok());
  auto brute = [&](const SparseVector& q, bool even_only, const std::vector<uint64_t>* among) {
    std::vector<std::pair<float, uint64_t>> scored;
    for (const auto& [id, v] : stored) {
      if (even_only && id % 2 != 0) continue;
      if (among && std::find(among->begin(), among->end(), id) == among->end()) continue;
      double s = 0;
      bool overlap = false;
      for (size_t a = 0; a < q.indices.size(); ++a) {
        for (size_t b = 0; b < v.indices.size(); ++b) {
          if (q.indices[a] == v.indices[b]) {
            s += static_cast<double>(q.values[a]) * v.values[b];
            overlap = true;
          }
        }
      }
      if (overlap) scored.push_back({static_cast<float>(-s), id});
    }
    std::sort(scored.begin(), scored.end());
    std::vector<uint64_t> ids;
    for (size_t i = 0; i < std::min<size_t>(10, scored.size()); ++i) ids.push_back(scored[i].second);
    return ids;
  };
  for (int round = 0; round < 2; ++round) {
    for (int trial = 0; trial < 20; ++trial) {
      SparseVector q{{dim(rng), dim(rng) + 41}, {1.0f, 1.0f}};
      q.indices[1] = (q.indices[0] + 7) % 41;
      if (q.indices[0] == q.indices[1]) continue;
      SearchRequest request;
      request.sparse = SparseQuery{"splade", q};
      request.with_text = false;
      bool even_only = trial % 2 == 1;
      if (even_only) {
        request.filter = Filter{};
        request.filter->must.push_back(Condition::Match("even", true));
      }
      std::vector<uint64_t> among;
      if (trial % 3 == 2) {
        for (uint64_t id = 1; id <= 300; id += 3) among.push_back(id);
        request.among = among;
      }
      auto response = collection_->Search(request);
      ASSERT_TRUE(response.ok()) << response.status().ToString();
      std::vector<uint64_t> got;
      for (const auto& hit : response->hits) got.push_back(hit.point_id);
      auto want = brute(q, even_only, trial % 3 == 2 ? &among : nullptr);
      // Equal scores may order differently in float and double: compare sets of the top.
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i + 1 < got.size(); ++i) {
        EXPECT_GE(response->hits[i].score, response->hits[i + 1].score);
      }
      std::sort(got.begin(), got.end());
      std::sort(want.begin(), want.end());
      EXPECT_EQ(got, want) << "trial " << trial << " round " << round;
    }
    Reopen();  // the sparse index is rebuilt from the store
  }
}

TEST_F(PointsTest, DenseRescoringOverCandidatesIsExact) {
  std::vector<PointStruct> points;
  for (uint64_t id = 1; id <= 50; ++id) {
    float a = static_cast<float>(id) / 50.0f;
    PointStruct p = Point(PointId::Num(id), {a, 1.0f - a, 0.5f, 0.0f});
    p.vectors.emplace_back("l2", std::vector<float>{a * 10, 1.0f});
    points.push_back(std::move(p));
  }
  ASSERT_TRUE(collection_->UpsertPoints(points).ok());
  SearchRequest request;
  request.vector = VectorQuery{"l2", {3.0f, 1.0f}};
  request.among = std::vector<uint64_t>{40, 2, 16, 15, 999};
  request.limit = 3;
  auto response = collection_->Search(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  // Distances to x = 3: id 16 -> 3.2, id 15 -> 3.0, id 2 -> 0.4, id 40 -> 8.
  ASSERT_EQ(response->hits.size(), 3u);
  EXPECT_EQ(response->hits[0].point_id, 15u);
  EXPECT_EQ(response->hits[1].point_id, 16u);
  EXPECT_EQ(response->hits[2].point_id, 2u);
  EXPECT_NEAR(response->hits[1].score, -0.04f, 1e-5);
}

TEST_F(PointsTest, PayloadUpdatesReachFiltersTextAndIndexes) {
  ASSERT_TRUE(collection_
                  ->UpsertPoints({Point(PointId::Num(1), {1, 0, 0, 0}, {{"tag", "a"}, {"text", "red fox"}}),
                                  Point(PointId::Num(2), {0, 1, 0, 0}, {{"tag", "b"}}),
                                  Point(PointId{0, kUuid}, {0, 0, 1, 0}, {{"tag", "a"}, {"x", 1}})})
                  .ok());
  ASSERT_TRUE(collection_->CreatePayloadIndex("tag", PayloadIndexType::kKeyword).ok());
  auto count_tag = [&](const std::string& tag) {
    Filter f;
    f.must.push_back(Condition::Match("tag", tag));
    return *collection_->CountPoints(f);
  };
  auto text_hits = [&](const std::string& text) {
    SearchRequest request;
    request.text = text;
    return collection_->Search(request)->hits.size();
  };
  EXPECT_EQ(count_tag("a"), 2u);
  EXPECT_EQ(text_hits("fox"), 1u);
  // set: merges keys.
  PointSelector by_filter;
  by_filter.filter = Filter{};
  by_filter.filter->must.push_back(Condition::Match("tag", std::string("a")));
  PayloadUpdate set{PayloadOp::kSet, json({{"tag", "c"}, {"text", "blue whale"}}).dump(), {}};
  EXPECT_EQ(*collection_->UpdatePayload(by_filter, set), 2u);
  EXPECT_EQ(count_tag("a"), 0u);
  EXPECT_EQ(count_tag("c"), 2u);
  EXPECT_EQ(text_hits("fox"), 0u);
  EXPECT_EQ(text_hits("whale"), 2u);
  auto uuid_record = collection_->RetrievePoints(std::vector<PointId>{PointId{0, kUuid}}, false);
  EXPECT_EQ(json::parse((*uuid_record)[0]->chunk.metadata),
            json({{"tag", "c"}, {"text", "blue whale"}, {"x", 1}}));
  // delete keys, overwrite, clear.
  PointSelector by_id{{PointId{0, kUuid}}, std::nullopt};
  EXPECT_EQ(*collection_->UpdatePayload(by_id, {PayloadOp::kDeleteKeys, "", {"x", "text"}}), 1u);
  uuid_record = collection_->RetrievePoints(std::vector<PointId>{PointId{0, kUuid}}, false);
  EXPECT_EQ(json::parse((*uuid_record)[0]->chunk.metadata), json({{"tag", "c"}}));
  EXPECT_EQ(*collection_->UpdatePayload({{PointId::Num(2)}, std::nullopt},
                                        {PayloadOp::kOverwrite, json({{"k", 5}}).dump(), {}}),
            1u);
  EXPECT_EQ(*collection_->UpdatePayload({{PointId::Num(1)}, std::nullopt}, {PayloadOp::kClear, "", {}}),
            1u);
  EXPECT_EQ(text_hits("whale"), 0u);
  // Upserting the original point again rewrites it (its hash was reset).
  auto stats = collection_->UpsertPoints(
      {Point(PointId::Num(1), {1, 0, 0, 0}, {{"tag", "a"}, {"text", "red fox"}})});
  EXPECT_EQ(stats->replaced, 1u);
  EXPECT_EQ(text_hits("fox"), 1u);
  // Reopen without a snapshot of these changes: the change log replays them.
  Reopen();
  EXPECT_EQ(text_hits("fox"), 1u);
  EXPECT_EQ(count_tag("a"), 1u);
  Filter k5;
  k5.must.push_back(Condition::Match("k", int64_t{5}));
  EXPECT_EQ(*collection_->CountPoints(k5), 1u);
  // has_id with a UUID.
  Filter has_uuid;
  HasIdCondition has_id;
  has_id.uuids.push_back(kUuid);
  has_uuid.must.push_back(Condition{has_id});
  EXPECT_EQ(*collection_->CountPoints(has_uuid), 1u);
  SearchRequest dense;
  dense.vector = VectorQuery{"dense", {1, 1, 1, 0}};
  dense.filter = has_uuid;
  auto hits = collection_->Search(dense);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ(Ids(*hits), std::vector<std::string>({kUuid}));
}

TEST_F(PointsTest, ScrollPagesThroughEverythingOnce) {
  std::vector<PointStruct> points;
  for (uint64_t id = 1; id <= 57; ++id) {
    points.push_back(Point(PointId::Num(id * 3), {}, {{"mod", static_cast<int64_t>(id % 4)}}));
  }
  ASSERT_TRUE(collection_->UpsertPoints(points).ok());
  for (bool filtered : {false, true}) {
    ScrollRequest request;
    request.limit = 10;
    if (filtered) {
      request.filter = Filter{};
      request.filter->must.push_back(Condition::Match("mod", int64_t{1}));
    }
    std::vector<uint64_t> seen;
    for (int page_no = 0; page_no < 20; ++page_no) {
      auto page = collection_->Scroll(request);
      ASSERT_TRUE(page.ok()) << page.status().ToString();
      for (const auto& record : page->points) seen.push_back(record.id.num);
      if (!page->next_offset) break;
      request.offset = page->next_offset;
    }
    std::vector<uint64_t> want;
    for (uint64_t id = 1; id <= 57; ++id) {
      if (!filtered || id % 4 == 1) want.push_back(id * 3);
    }
    EXPECT_EQ(seen, want);
  }
  ScrollRequest bad;
  bad.offset = PointId{0, kUuid};
  EXPECT_FALSE(collection_->Scroll(bad).ok());
}

TEST_F(PointsTest, DeleteByFilterAndByIds) {
  std::vector<PointStruct> points;
  for (uint64_t id = 1; id <= 20; ++id) {
    PointStruct p = Point(PointId::Num(id), {1.0f, static_cast<float>(id), 0, 0},
                          {{"group", id <= 10 ? "x" : "y"}});
    p.sparse_vectors.emplace_back("idf", SparseVector{{1}, {1.0f}});
    points.push_back(std::move(p));
  }
  ASSERT_TRUE(collection_->UpsertPoints(points).ok());
  PointSelector by_filter;
  by_filter.filter = Filter{};
  by_filter.filter->must.push_back(Condition::Match("group", std::string("x")));
  EXPECT_EQ(*collection_->DeletePoints(by_filter), 10u);
  EXPECT_EQ(*collection_->DeletePoints({{PointId::Num(11), PointId::Num(12), PointId::Num(99)},
                                        std::nullopt}),
            2u);
  auto check = [&] {
    EXPECT_EQ(*collection_->CountPoints(std::nullopt), 8u);
    SearchRequest dense;
    dense.vector = VectorQuery{"dense", {1, 15, 0, 0}};
    dense.limit = 20;
    auto hits = collection_->Search(dense);
    ASSERT_TRUE(hits.ok());
    EXPECT_EQ(hits->hits.size(), 8u);
    for (const auto& hit : hits->hits) EXPECT_GT(hit.point_id, 12u);
    SearchRequest sparse;
    sparse.sparse = SparseQuery{"idf", {{1}, {1.0f}}};
    sparse.limit = 20;
    EXPECT_EQ(collection_->Search(sparse)->hits.size(), 8u);
  };
  check();
  Reopen();
  check();
}

// The sparse index snapshot plus the change log after it give the same index
// as the writes did, after a crash (no flush) and after a damaged snapshot.
TEST_F(PointsTest, SparseSnapshotReplaysAndSurvivesDamage) {
  auto make = [](uint64_t id, uint32_t dim, float value) {
    PointStruct p;
    p.id = PointId::Num(id);
    p.sparse_vectors.emplace_back("idf", SparseVector{{dim}, {value}});
    return p;
  };
  std::vector<PointStruct> points;
  for (uint64_t id = 1; id <= 30; ++id) points.push_back(make(id, static_cast<uint32_t>(id % 3), 1.0f + id));
  ASSERT_TRUE(collection_->UpsertPoints(points).ok());
  ASSERT_TRUE(collection_->Flush().ok());
  const auto snapshot = dir_ / "collections" / "c" / "sparse" / "idf.snap";
  ASSERT_TRUE(std::filesystem::exists(snapshot)) << snapshot;
  engine_.reset();
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    EngineOptions options;
    options.data_dir = dir_;
    auto engine = Engine::Open(options);
    if (!engine.ok()) ::_exit(10);
    auto c = (*engine)->GetCollection("c");
    if (!c.ok()) ::_exit(11);
    // Changes after the snapshot: a new point, a replaced one, a deleted one,
    // and a payload update (a delete + upsert in the log).
    if (!(*c)->UpsertPoints({make(31, 0, 100.0f), make(2, 1, 50.0f)}).ok()) ::_exit(12);
    if (!(*c)->DeletePoints({{PointId::Num(3)}, std::nullopt}).ok()) ::_exit(13);
    if (!(*c)->UpdatePayload({{PointId::Num(4)}, std::nullopt}, {PayloadOp::kSet, "{\"a\":1}", {}}).ok()) {
      ::_exit(14);
    }
    ::_exit(0);  // no flush
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  ASSERT_EQ(WEXITSTATUS(wstatus), 0);
  auto top = [&](uint32_t dim) {
    SearchRequest request;
    request.sparse = SparseQuery{"idf", {{dim}, {1.0f}}};
    request.limit = 100;
    request.with_text = false;
    std::vector<std::pair<uint64_t, float>> out;
    auto response = collection_->Search(request);
    EXPECT_TRUE(response.ok());
    for (const auto& hit : response->hits) out.push_back({hit.point_id, hit.score});
    return out;
  };
  Open();
  collection_ = *engine_->GetCollection("c");
  auto zero = top(0), one = top(1), two = top(2);
  EXPECT_EQ(zero.front().first, 31u);
  EXPECT_EQ(one.front().first, 2u);
  for (const auto& [id, score] : zero) EXPECT_NE(id, 3u);
  EXPECT_EQ(zero.size() + one.size() + two.size(), 30u);  // 30 + 1 new - 1 deleted
  // A damaged snapshot is rebuilt from the store with the same answers.
  engine_.reset();
  {
    std::string bytes;
    {
      std::ifstream in(snapshot, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    ASSERT_GT(bytes.size(), 40u);
    bytes[bytes.size() / 2] ^= 0x5a;
    std::ofstream out(snapshot, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  Open();
  collection_ = *engine_->GetCollection("c");
  EXPECT_EQ(top(0), zero);
  EXPECT_EQ(top(1), one);
  EXPECT_EQ(top(2), two);
}

}  // namespace
}  // namespace quarry
