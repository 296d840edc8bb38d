// Payload filters and payload indexes: every operator on hand-computed
// examples, filtered BM25 and dense search against brute force at several
// selectivities, index persistence and maintenance, metadata round trips.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "collection/filter.h"
#include "collection/payload_index.h"
#include "common/hash.h"
#include "quarry/engine.h"

namespace quarry {
namespace {

using nlohmann::json;

Chunk ChunkWith(const std::string& metadata) {
  Chunk chunk;
  chunk.doc_id = "d";
  chunk.title = "T";
  chunk.text = "some text";
  chunk.chunk_index = 3;
  chunk.metadata = metadata;
  return chunk;
}

bool Matches(const Filter& filter, const std::string& metadata, uint64_t point_id = 1) {
  auto compiled = CompiledFilter::Compile(filter);
  EXPECT_TRUE(compiled.ok()) << compiled.status().ToString();
  return compiled.ok() && compiled->Matches(point_id, ChunkWith(metadata));
}

Filter Must(Condition c) {
  Filter f;
  f.must.push_back(std::move(c));
  return f;
}

// The payload of Qdrant's own condition-checker test, with Qdrant's answers.
TEST(FilterEvalTest, QdrantConditionCheckerExamples) {
  const std::string payload = R"({"price": 499.90, "amount": 10, "rating": [3, 7, 9, 9],
      "color": "red", "has_delivery": true, "parts": [], "packaging": null, "not_null": [null]})";
  EXPECT_FALSE(Matches(Must(Condition::IsEmpty("price")), payload));
  EXPECT_TRUE(Matches(Must(Condition::IsEmpty("something_new")), payload));
  EXPECT_TRUE(Matches(Must(Condition::IsEmpty("parts")), payload));
  EXPECT_FALSE(Matches(Must(Condition::IsEmpty("not_null")), payload));
  EXPECT_TRUE(Matches(Must(Condition::IsEmpty("packaging")), payload));
  EXPECT_FALSE(Matches(Must(Condition::IsNull("amount")), payload));
  EXPECT_FALSE(Matches(Must(Condition::IsNull("parts")), payload));
  EXPECT_FALSE(Matches(Must(Condition::IsNull("something_else")), payload));
  EXPECT_TRUE(Matches(Must(Condition::IsNull("packaging")), payload));
  EXPECT_FALSE(Matches(Must(Condition::IsNull("not_null")), payload));
  EXPECT_TRUE(Matches(Must(Condition::Match("color", std::string("red"))), payload));
  EXPECT_FALSE(Matches(Must(Condition::Match("color", std::string("blue"))), payload));
  EXPECT_TRUE(Matches(Must(Condition::Match("has_delivery", true)), payload));
  EXPECT_TRUE(Matches(Must(Condition::Match("amount", int64_t{10})), payload));
  EXPECT_FALSE(Matches(Must(Condition::Match("price", int64_t{499})), payload));  // a float
  EXPECT_TRUE(Matches(Must(Condition::Match("rating", int64_t{7})), payload));  // array element
  EXPECT_TRUE(Matches(Must(Condition::Range("price", {.gt = 400.0, .lte = 500.0})), payload));
  EXPECT_FALSE(Matches(Must(Condition::Range("price", {.gt = 499.9})), payload));
  EXPECT_TRUE(Matches(Must(Condition::Range("rating", {.gte = 9.0})), payload));
  EXPECT_FALSE(Matches(Must(Condition::Range("color", {.gte = 0.0})), payload));
  EXPECT_TRUE(Matches(Must(Condition::MatchExcept("rating", {int64_t{3}, int64_t{7}})), payload));
  EXPECT_FALSE(Matches(Must(Condition::MatchExcept("rating", {int64_t{3}, int64_t{7}, int64_t{9}})),
                       payload));
  EXPECT_FALSE(Matches(Must(Condition::MatchExcept("packaging", {std::string("x")})), payload));
  EXPECT_FALSE(Matches(Must(Condition::MatchExcept("missing", {std::string("x")})), payload));
  EXPECT_TRUE(Matches(Must(Condition::MatchExcept("has_delivery", {std::string("x")})), payload));
  EXPECT_TRUE(Matches(Must(Condition::MatchText("color", "ed")), payload));
  EXPECT_FALSE(Matches(Must(Condition::MatchText("amount", "1")), payload));
}

TEST(FilterEvalTest, PathsFixedFieldsAndLogic) {
  const std::string payload = R"({"a": {"b": [{"c": 1}, {"c": 2}, {"d": {"e": 3}}]},
      "arr": [{"a": [1, 2, 3]}, {"a": 4}, {"b": 5}], "title": "shadowed", "big": 18446744073709551615})";
  EXPECT_TRUE(Matches(Must(Condition::Match("a.b[].c", int64_t{2})), payload));
  EXPECT_FALSE(Matches(Must(Condition::Match("a.b.c", int64_t{2})), payload));  // no [] no walk
  EXPECT_TRUE(Matches(Must(Condition::Match("a.b[1].c", int64_t{2})), payload));
  EXPECT_FALSE(Matches(Must(Condition::Match("a.b[0].c", int64_t{2})), payload));
  EXPECT_TRUE(Matches(Must(Condition::Match("a.b[].d.e", int64_t{3})), payload));
  EXPECT_TRUE(Matches(Must(Condition::Match("arr[].a", int64_t{2})), payload));  // leaf array
  EXPECT_TRUE(Matches(Must(Condition::Match("arr[].a[]", int64_t{2})), payload));
  EXPECT_FALSE(Matches(Must(Condition::Match("arr[].a[]", int64_t{4})), payload));  // 4 is no array
  EXPECT_FALSE(Matches(Must(Condition::Match("a.b[7].c", int64_t{1})), payload));
  // Fixed fields come from the chunk and hide metadata keys of the same name.
  EXPECT_TRUE(Matches(Must(Condition::Match("title", std::string("T"))), payload));
  EXPECT_FALSE(Matches(Must(Condition::Match("title", std::string("shadowed"))), payload));
  EXPECT_TRUE(Matches(Must(Condition::Match("chunk_index", int64_t{3})), payload));
  EXPECT_TRUE(Matches(Must(Condition::MatchText("text", "me te")), payload));
  EXPECT_TRUE(Matches(Must(Condition::Match("doc_id", std::string("d"))), payload));
  EXPECT_FALSE(Matches(Must(Condition::Match("big", int64_t{-1})), payload));  // no int64
  EXPECT_TRUE(Matches(Must(Condition::Range("big", {.gt = 1e19})), payload));
  // has_id, should, must_not, nesting, empty filters.
  EXPECT_TRUE(Matches(Must(Condition::HasId({5, 1})), payload, 1));
  EXPECT_FALSE(Matches(Must(Condition::HasId({5, 1})), payload, 2));
  EXPECT_TRUE(Matches(Filter{}, payload));
  Filter should;
  should.should = {Condition::Match("title", std::string("x")), Condition::HasId({2})};
  EXPECT_FALSE(Matches(should, payload, 1));
  EXPECT_TRUE(Matches(should, payload, 2));
  Filter not_two;
  not_two.must_not.push_back(Condition::HasId({2}));
  EXPECT_TRUE(Matches(not_two, payload, 1));
  EXPECT_FALSE(Matches(not_two, payload, 2));
  Filter nested;
  nested.must = {Condition::Nested(should), Condition::Nested(Filter{})};
  EXPECT_TRUE(Matches(nested, payload, 2));
  EXPECT_FALSE(Matches(nested, payload, 3));
  // Absent, empty and malformed metadata read as {}.
  EXPECT_TRUE(Matches(Must(Condition::IsEmpty("a")), ""));
  EXPECT_TRUE(Matches(Must(Condition::IsEmpty("a")), "not json"));
}

TEST(FilterEvalTest, CompileRejectsBadFilters) {
  auto bad_key = CompiledFilter::Compile(Must(Condition::Match("a..b", int64_t{1})));
  ASSERT_FALSE(bad_key.ok());
  EXPECT_NE(bad_key.status().message().find("filter.must[0].key"), std::string::npos)
      << bad_key.status().message();
  Filter deep;
  deep.should.push_back(Condition::Nested(Must(Condition::Range("x", {.lt = std::nan("")}))));
  auto bad_range = CompiledFilter::Compile(deep);
  ASSERT_FALSE(bad_range.ok());
  EXPECT_NE(bad_range.status().message().find("filter.should[0].must[0].range"), std::string::npos)
      << bad_range.status().message();
  FieldCondition no_value;  // a plain match needs exactly one value
  no_value.key = "x";
  no_value.op = FieldCondition::Op::kMatch;
  EXPECT_FALSE(CompiledFilter::Compile(Must(Condition{no_value})).ok());
}

TEST(FilterKeyTest, CanonicalAndDistinct) {
  Filter a;
  a.must = {Condition::Match("x", int64_t{1}), Condition::HasId({3, 1, 3}),
            Condition::MatchAny("t", {std::string("b"), std::string("a")})};
  a.should = {Condition::Range("n", {.gte = 0.5})};
  Filter b;  // the same, reordered
  b.should = {Condition::Range("n", {.gte = 0.5})};
  b.must = {Condition::MatchAny("t", {std::string("a"), std::string("b")}), Condition::HasId({1, 3}),
            Condition::Match("x", int64_t{1})};
  EXPECT_EQ(CanonicalFilterKey(a), CanonicalFilterKey(b));
  EXPECT_EQ(CanonicalFilterKey(Filter{}), "{}");
  EXPECT_EQ(CanonicalFilterKey(Must(Condition::Match("k", std::string("v")))),
            R"({"must":[{"key":"k","match":{"value":"v"}}]})");
  // Each of these differs from every other.
  std::vector<Filter> distinct = {
      Must(Condition::Match("x", int64_t{1})),
      Must(Condition::Match("x", std::string("1"))),
      Must(Condition::Match("x", true)),
      Must(Condition::Match("y", int64_t{1})),
      Must(Condition::MatchAny("x", {int64_t{1}})),
      Must(Condition::MatchExcept("x", {int64_t{1}})),
      Must(Condition::MatchText("x", "1")),
      Must(Condition::Range("x", {.gt = 1.0})),
      Must(Condition::Range("x", {.gte = 1.0})),
      Must(Condition::Range("x", {.gt = 1.5})),
      Must(Condition::IsEmpty("x")),
      Must(Condition::IsNull("x")),
      Must(Condition::HasId({1})),
      Must(Condition::Nested(Must(Condition::Match("x", int64_t{1})))),
  };
  Filter must_not;
  must_not.must_not.push_back(Condition::Match("x", int64_t{1}));
  distinct.push_back(must_not);
  Filter should;
  should.should.push_back(Condition::Match("x", int64_t{1}));
  distinct.push_back(should);
  std::set<std::string> keys;
  for (const Filter& f : distinct) keys.insert(CanonicalFilterKey(f));
  EXPECT_EQ(keys.size(), distinct.size());
}

// ---- payload indexes on their own ----

TEST(PayloadIndexesTest, CandidatesAreMaintained) {
  PayloadIndexes indexes;
  for (auto [field, type] : {std::pair{"color", PayloadIndexType::kKeyword},
                             std::pair{"n", PayloadIndexType::kInteger},
                             std::pair{"f", PayloadIndexType::kFloat},
                             std::pair{"ok", PayloadIndexType::kBool}}) {
    auto index = PayloadIndexes::NewField(field, type);
    ASSERT_TRUE(index.ok());
    indexes.Put(std::move(index).value());
  }
  EXPECT_FALSE(PayloadIndexes::NewField("a..b", PayloadIndexType::kKeyword).ok());
  indexes.Add(1, ChunkWith(R"({"color": "red", "n": 1, "f": 0.5, "ok": true})"));
  indexes.Add(2, ChunkWith(R"({"color": ["red", "blue"], "n": [2, 3], "f": 2, "ok": false})"));
  indexes.Add(3, ChunkWith(R"({"color": "green", "n": 2.5, "ok": [true, false]})"));
  indexes.Add(4, ChunkWith(""));
  auto ids = [](std::initializer_list<uint64_t> list) {
    return std::optional<std::vector<uint64_t>>(std::vector<uint64_t>(list));
  };
  EXPECT_EQ(indexes.Candidates(Must(Condition::Match("color", std::string("red")))), ids({1, 2}));
  EXPECT_EQ(indexes.Candidates(Must(Condition::MatchAny("color", {std::string("green"),
                                                                   std::string("blue")}))),
            ids({2, 3}));
  EXPECT_EQ(indexes.Candidates(Must(Condition::Match("n", int64_t{3}))), ids({2}));
  // Integer ranges include points with non-integer numbers (3: 2.5) for the
  // evaluator to decide.
  EXPECT_EQ(indexes.Candidates(Must(Condition::Range("n", {.gte = 2.0}))), ids({2, 3}));
  EXPECT_EQ(indexes.Candidates(Must(Condition::Range("f", {.gt = 0.5}))), ids({2}));
  EXPECT_EQ(indexes.Candidates(Must(Condition::Range("f", {.gte = 0.5, .lt = 2.0}))), ids({1}));
  EXPECT_EQ(indexes.Candidates(Must(Condition::Match("ok", false))), ids({2, 3}));
  // Not answerable: another type, an unindexed key, a text match.
  EXPECT_EQ(indexes.Candidates(Must(Condition::Match("color", int64_t{1}))), std::nullopt);
  EXPECT_EQ(indexes.Candidates(Must(Condition::Match("other", int64_t{1}))), std::nullopt);
  EXPECT_EQ(indexes.Candidates(Must(Condition::MatchText("color", "re"))), std::nullopt);
  // must intersects, has_id counts, should unites when all of it is answerable.
  Filter both = Must(Condition::Match("color", std::string("red")));
  both.must.push_back(Condition::HasId({2, 3}));
  EXPECT_EQ(indexes.Candidates(both), ids({2}));
  Filter any;
  any.should = {Condition::Match("n", int64_t{1}), Condition::Match("color", std::string("green"))};
  EXPECT_EQ(indexes.Candidates(any), ids({1, 3}));
  any.should.push_back(Condition::IsEmpty("color"));
  EXPECT_EQ(indexes.Candidates(any), std::nullopt);
  // Removal and re-adding.
  indexes.Remove(2);
  EXPECT_EQ(indexes.Candidates(Must(Condition::Match("color", std::string("red")))), ids({1}));
  EXPECT_EQ(indexes.Candidates(Must(Condition::Match("ok", false))), ids({3}));
  indexes.Add(1, ChunkWith(R"({"color": "blue"})"));
  EXPECT_EQ(indexes.Candidates(Must(Condition::Match("color", std::string("red")))), ids({}));
  auto info = indexes.Info();
  ASSERT_EQ(info.size(), 4u);
  EXPECT_EQ(info[0].field, "color");
  EXPECT_EQ(info[0].points, 2u);  // 1 and 3
  EXPECT_TRUE(indexes.Drop("color"));
  EXPECT_FALSE(indexes.Drop("color"));
  EXPECT_EQ(indexes.Candidates(Must(Condition::Match("color", std::string("blue")))), std::nullopt);
}

// ---- collections ----

class FilterCollectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("quarry_filter_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Reopen();
  }
  void TearDown() override {
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    engine_.reset();
    EngineOptions options;
    options.data_dir = dir_;
    options.map_size = 1ull << 30;
    auto engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value();
  }
  Collection* Coll(CollectionOptions options = {}) {
    auto coll = engine_->GetOrCreateCollection("c", options);
    EXPECT_TRUE(coll.ok()) << coll.status().ToString();
    return coll.ok() ? *coll : nullptr;
  }
  static Document Doc(const std::string& id, const std::string& text, const std::string& metadata) {
    Document doc;
    doc.doc_id = id;
    doc.source = "/src/" + id;
    doc.title = "Doc " + id.substr(1);
    doc.text = text;
    doc.sections.push_back({"", 0, doc.text.size()});
    doc.metadata = metadata;
    return doc;
  }
  // Doc ids of the hits for "common" under `filter`, sorted.
  std::vector<std::string> Ids(Collection* coll, const Filter& filter) {
    SearchRequest request;
    request.text = "common";
    request.limit = 100;
    request.filter = filter;
    auto response = coll->Search(request);
    EXPECT_TRUE(response.ok()) << response.status().ToString();
    std::vector<std::string> ids;
    if (response.ok()) {
      for (const auto& hit : response->hits) ids.push_back(hit.chunk.doc_id);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }
  uint64_t PointOf(Collection* coll, const std::string& doc_id) {
    SearchRequest request;
    request.text = "common";
    request.limit = 100;
    auto response = coll->Search(request);
    for (const auto& hit : response->hits) {
      if (hit.chunk.doc_id == doc_id) return hit.point_id;
    }
    ADD_FAILURE() << "no point for " << doc_id;
    return 0;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Engine> engine_;
};

// Every operator on a small collection; the expected ids are worked out by
// hand from the metadata below. Run without indexes, then with indexes on the
// keys involved: the answers must not change.
TEST_F(FilterCollectionTest, EveryOperatorByHand) {
  Collection* coll = Coll();
  ASSERT_NE(coll, nullptr);
  std::vector<Document> docs = {
      Doc("d1", "common alpha",
          R"({"color": "red", "size": 10, "price": 9.5, "tags": ["a", "b"], "ok": true,
              "nested": {"k": "x"}, "parts": [], "note": null, "arr": [{"v": 1}, {"v": 2}]})"),
      Doc("d2", "common beta",
          R"({"color": "blue", "size": 20, "price": 20.0, "tags": ["b", "c"], "ok": false,
              "nested": {"k": "y"}, "parts": [1], "arr": [{"v": 3}]})"),
      Doc("d3", "common gamma", R"({"color": "green", "size": 30, "tags": [], "ok": true, "note": "n"})"),
      Doc("d4", "common delta", R"({"color": ["red", "green"], "size": 1.5, "price": 30})"),
      Doc("d5", "common epsilon", ""),
      Doc("d6", "common zeta", R"({"color": null, "size": "10", "tags": [["a"]], "title": "shadow"})"),
  };
  ASSERT_TRUE(coll->Upsert(std::move(docs)).ok());
  const uint64_t p2 = PointOf(coll, "d2");
  const uint64_t p5 = PointOf(coll, "d5");
  using V = std::vector<std::string>;
  using S = std::string;
  struct Case {
    const char* name;
    Filter filter;
    V expected;
  };
  Filter must_and_not = Must(Condition::MatchAny("color", {S("red"), S("blue"), S("green")}));
  must_and_not.must_not.push_back(Condition::Match("ok", true));
  Filter should_sizes;
  should_sizes.should = {Condition::Match("size", int64_t{10}), Condition::Match("size", int64_t{30})};
  Filter blue_or_ok;
  blue_or_ok.should = {Condition::Match("color", S("blue")), Condition::Match("ok", true)};
  Filter nested = Must(Condition::Nested(blue_or_ok));
  nested.must_not.push_back(Condition::Match("doc_id", S("d3")));
  Filter should_and_must = Must(Condition::Match("ok", true));
  should_and_must.should = {Condition::Match("color", S("green")), Condition::IsNull("note")};
  const std::vector<Case> cases = {
      {"match keyword", Must(Condition::Match("color", S("red"))), V{"d1", "d4"}},
      {"match integer", Must(Condition::Match("size", int64_t{10})), V{"d1"}},
      {"match integer 2", Must(Condition::Match("size", int64_t{30})), V{"d3"}},
      {"match bool true", Must(Condition::Match("ok", true)), V{"d1", "d3"}},
      {"match bool false", Must(Condition::Match("ok", false)), V{"d2"}},
      {"match any keyword", Must(Condition::MatchAny("color", {S("red"), S("blue")})), V{"d1", "d2", "d4"}},
      {"match any integer", Must(Condition::MatchAny("size", {int64_t{10}, int64_t{20}})), V{"d1", "d2"}},
      {"match any empty", Must(Condition::MatchAny("color", {})), V{}},
      {"match except keyword", Must(Condition::MatchExcept("color", {S("red")})), V{"d2", "d3", "d4"}},
      {"match except integer", Must(Condition::MatchExcept("size", {int64_t{10}, int64_t{20}})),
       V{"d3", "d4", "d6"}},
      {"match text fixed", Must(Condition::MatchText("text", "alp")), V{"d1"}},
      {"match text nested", Must(Condition::MatchText("nested.k", "y")), V{"d2"}},
      {"range integer", Must(Condition::Range("size", {.gte = 10.0, .lt = 30.0})), V{"d1", "d2"}},
      {"range float gt", Must(Condition::Range("price", {.gt = 9.5})), V{"d2", "d4"}},
      {"range float lte", Must(Condition::Range("price", {.lte = 9.5})), V{"d1"}},
      {"range mixed numbers", Must(Condition::Range("size", {.lt = 10.0})), V{"d4"}},
      {"range fixed field", Must(Condition::Range("chunk_index", {.gte = 0.0})),
       V{"d1", "d2", "d3", "d4", "d5", "d6"}},
      {"is_empty array", Must(Condition::IsEmpty("tags")), V{"d3", "d4", "d5"}},
      {"is_empty null", Must(Condition::IsEmpty("note")), V{"d1", "d2", "d4", "d5", "d6"}},
      {"is_null", Must(Condition::IsNull("note")), V{"d1"}},
      {"is_null array", Must(Condition::IsNull("color")), V{"d6"}},
      {"is_null empty array", Must(Condition::IsNull("parts")), V{}},
      {"has_id", Must(Condition::HasId({p2, p5})), V{"d2", "d5"}},
      {"path", Must(Condition::Match("nested.k", S("x"))), V{"d1"}},
      {"path through array", Must(Condition::Match("arr[].v", int64_t{3})), V{"d2"}},
      {"range through array", Must(Condition::Range("arr[].v", {.gte = 2.0})), V{"d1", "d2"}},
      {"array without []", Must(Condition::Match("arr.v", int64_t{1})), V{}},
      {"array index", Must(Condition::Match("arr[0].v", int64_t{1})), V{"d1"}},
      {"array elements", Must(Condition::Match("tags", S("a"))), V{"d1"}},
      {"array elements []", Must(Condition::Match("tags[]", S("b"))), V{"d1", "d2"}},
      {"doc_id", Must(Condition::Match("doc_id", S("d3"))), V{"d3"}},
      {"title any", Must(Condition::MatchAny("title", {S("Doc 1"), S("Doc 2")})), V{"d1", "d2"}},
      {"fixed field hides metadata", Must(Condition::Match("title", S("shadow"))), V{}},
      {"fixed field", Must(Condition::Match("title", S("Doc 6"))), V{"d6"}},
      {"must and must_not", must_and_not, V{"d2", "d4"}},
      {"should", should_sizes, V{"d1", "d3"}},
      {"nested filter", nested, V{"d1", "d2"}},
      {"must and should", should_and_must, V{"d1", "d3"}},
      {"empty filter", Filter{}, V{"d1", "d2", "d3", "d4", "d5", "d6"}},
  };
  for (int pass = 0; pass < 3; ++pass) {
    SCOPED_TRACE(pass == 0 ? "no indexes" : pass == 1 ? "indexed" : "indexed, reopened");
    for (const Case& c : cases) EXPECT_EQ(Ids(coll, c.filter), c.expected) << c.name;
    if (pass == 0) {
      for (auto [field, type] : {std::pair{"color", PayloadIndexType::kKeyword},
                                 std::pair{"size", PayloadIndexType::kInteger},
                                 std::pair{"price", PayloadIndexType::kFloat},
                                 std::pair{"ok", PayloadIndexType::kBool},
                                 std::pair{"arr[].v", PayloadIndexType::kInteger},
                                 std::pair{"tags", PayloadIndexType::kKeyword},
                                 std::pair{"title", PayloadIndexType::kKeyword},
                                 std::pair{"doc_id", PayloadIndexType::kKeyword},
                                 std::pair{"chunk_index", PayloadIndexType::kInteger}}) {
        ASSERT_TRUE(coll->CreatePayloadIndex(field, type).ok()) << field;
      }
    } else if (pass == 1) {
      Reopen();
      coll = Coll();
      ASSERT_NE(coll, nullptr);
    }
  }
  EXPECT_EQ(coll->Info().payload_indexes.size(), 9u);
}

TEST_F(FilterCollectionTest, BadFiltersAreInvalidArguments) {
  Collection* coll = Coll();
  ASSERT_TRUE(coll->Upsert({Doc("d1", "common", R"({"a": 1})")}).ok());
  SearchRequest request;
  request.text = "common";
  request.filter = Must(Condition::Match("a[", int64_t{1}));
  auto response = coll->Search(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(response.status().message().find("filter.must[0].key"), std::string::npos);
  EXPECT_EQ(coll->CreatePayloadIndex("a..b", PayloadIndexType::kKeyword).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(coll->DeletePayloadIndex("a").IsNotFound());
}

TEST_F(FilterCollectionTest, MetadataRoundTrip) {
  Collection* coll = Coll();
  ASSERT_TRUE(coll->Upsert({Doc("d1", "common words here", R"({ "b": 2, "a": {"x": [1, "y", null]} })"),
                            Doc("d2", "common again", "{}")})
                  .ok());
  auto chunks = coll->GetDocumentChunks("d1");
  ASSERT_TRUE(chunks.ok());
  ASSERT_FALSE(chunks->empty());
  EXPECT_EQ(json::parse((*chunks)[0].metadata), json::parse(R"({"a": {"x": [1, "y", null]}, "b": 2})"));
  EXPECT_EQ((*chunks)[0].metadata, R"({"a":{"x":[1,"y",null]},"b":2})");  // stored compact
  EXPECT_EQ((*coll->GetDocumentChunks("d2"))[0].metadata, "");             // {} is none
  // Hits carry it, and it survives a reopen.
  Reopen();
  coll = Coll();
  SearchRequest request;
  request.text = "words";
  auto response = coll->Search(request);
  ASSERT_TRUE(response.ok());
  ASSERT_EQ(response->hits.size(), 1u);
  EXPECT_EQ(response->hits[0].chunk.metadata, R"({"a":{"x":[1,"y",null]},"b":2})");
  // Same text, other metadata: replaced; same metadata: unchanged.
  auto replaced = coll->Upsert({Doc("d1", "common words here", R"({"b": 3})")});
  ASSERT_TRUE(replaced.ok());
  EXPECT_EQ(replaced->replaced, 1u);
  auto unchanged = coll->Upsert({Doc("d1", "common words here", R"({"b":3})")});
  ASSERT_TRUE(unchanged.ok());
  EXPECT_EQ(unchanged->unchanged, 1u);
  EXPECT_EQ(Ids(coll, Must(Condition::Match("b", int64_t{3}))), std::vector<std::string>{"d1"});
  // Metadata that is not a JSON object is refused, naming the document.
  for (const char* bad : {"[1]", "{", "\"x\"", "3"}) {
    auto refused = coll->Upsert({Doc("d9", "x", bad)});
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(refused.status().message().find("d9"), std::string::npos);
  }
  EXPECT_FALSE(coll->Upsert({Doc("d9", "x", "{\"k\": \"" + std::string(70000, 'a') + "\"}")}).ok());
}

TEST_F(FilterCollectionTest, PayloadIndexPersistsAndFollowsWrites) {
  Collection* coll = Coll();
  std::vector<Document> docs;
  for (int i = 0; i < 20; ++i) {
    docs.push_back(Doc("d" + std::to_string(i), "common text " + std::to_string(i),
                       json{{"color", i % 2 == 0 ? "red" : "blue"}, {"n", i}}.dump()));
  }
  ASSERT_TRUE(coll->Upsert(std::move(docs)).ok());
  ASSERT_TRUE(coll->CreatePayloadIndex("color", PayloadIndexType::kKeyword).ok());
  ASSERT_TRUE(coll->CreatePayloadIndex("n", PayloadIndexType::kFloat).ok());
  ASSERT_TRUE(coll->CreatePayloadIndex("n", PayloadIndexType::kInteger).ok());  // replaces
  ASSERT_TRUE(coll->CreatePayloadIndex("n", PayloadIndexType::kInteger).ok());  // no-op
  auto indexes = [&] {
    std::vector<std::tuple<std::string, PayloadIndexType, uint64_t>> out;
    for (const auto& i : coll->Info().payload_indexes) out.emplace_back(i.field, i.type, i.points);
    return out;
  };
  using T = std::tuple<std::string, PayloadIndexType, uint64_t>;
  EXPECT_EQ(indexes(), (std::vector<T>{{"color", PayloadIndexType::kKeyword, 20},
                                       {"n", PayloadIndexType::kInteger, 20}}));
  Reopen();
  coll = Coll();
  EXPECT_EQ(indexes(), (std::vector<T>{{"color", PayloadIndexType::kKeyword, 20},
                                       {"n", PayloadIndexType::kInteger, 20}}));
  // Delete and replace update the indexes (and the answers).
  ASSERT_TRUE(coll->DeleteDocument("d0").ok());
  ASSERT_TRUE(coll->Upsert({Doc("d2", "common text 2", R"({"color": "green"})")}).ok());
  EXPECT_EQ(indexes(), (std::vector<T>{{"color", PayloadIndexType::kKeyword, 19},
                                       {"n", PayloadIndexType::kInteger, 18}}));
  EXPECT_EQ(Ids(coll, Must(Condition::Match("color", std::string("green")))),
            std::vector<std::string>{"d2"});
  auto reds = Ids(coll, Must(Condition::Match("color", std::string("red"))));
  EXPECT_EQ(reds.size(), 8u);  // 10 red, minus d0 (deleted) and d2 (now green)
  EXPECT_EQ(Ids(coll, Must(Condition::Range("n", {.lte = 2.0}))), std::vector<std::string>{"d1"});
  // Dropping an index persists too; the filter still works without it.
  ASSERT_TRUE(coll->DeletePayloadIndex("color").ok());
  Reopen();
  coll = Coll();
  EXPECT_EQ(indexes(), (std::vector<T>{{"n", PayloadIndexType::kInteger, 18}}));
  EXPECT_EQ(Ids(coll, Must(Condition::Match("color", std::string("red")))).size(), 8u);
}

// ---- selectivity sweep against brute force ----

constexpr size_t kSweepDocs = 4000;
constexpr size_t kDim = 16;

std::vector<float> RandomVector(std::string_view text) {
  std::mt19937_64 rng(Hash64(text));
  std::normal_distribution<float> normal;
  std::vector<float> v(kDim);
  for (float& x : v) x = normal(rng);
  return v;
}

class RandomEmbedder : public ChunkEmbedder {
 public:
  Status Embed(const std::vector<const Chunk*>& chunks, const DenseVectorConfig&,
               std::vector<std::vector<float>>* vectors) override {
    vectors->clear();
    for (const Chunk* chunk : chunks) vectors->push_back(RandomVector(chunk->text));
    return Status::OK();
  }
};

// The filters of the sweep and the same predicates computed from the doc
// number alone (the brute-force side never runs the evaluator).
struct SweepFilter {
  const char* name;
  Filter filter;
  std::function<bool(size_t doc)> pass;
};

std::vector<SweepFilter> SweepFilters() {
  std::vector<SweepFilter> out;
  out.push_back({"0.1%", Must(Condition::Match("bucket", int64_t{7})),
                 [](size_t i) { return i % 1000 == 7; }});
  out.push_back({"1%", Must(Condition::Range("bucket", {.gte = 100.0, .lt = 110.0})),
                 [](size_t i) { return i % 1000 >= 100 && i % 1000 < 110; }});
  Filter ten = Must(Condition::Match("group", std::string("g3")));
  out.push_back({"10%", ten, [](size_t i) { return i % 10 == 3; }});
  Filter half;
  half.must_not.push_back(Condition::Match("even", false));
  out.push_back({"50%", half, [](size_t i) { return i % 2 == 0; }});
  Filter mixed;  // 1% through should + must_not
  mixed.should = {Condition::MatchAny("bucket", {int64_t{1}, int64_t{2}, int64_t{3}}),
                  Condition::Match("group", std::string("g9"))};
  mixed.must_not.push_back(Condition::Range("bucket", {.gt = 99.0}));
  out.push_back({"mixed", mixed, [](size_t i) {
                   size_t b = i % 1000;
                   return (b == 1 || b == 2 || b == 3 || i % 10 == 9) && b <= 99;
                 }});
  return out;
}

class FilterSweepTest : public FilterCollectionTest {
 protected:
  Collection* Build() {
    CollectionOptions options;
    DenseVectorConfig dense;
    dense.name = "v";
    dense.dim = kDim;
    options.dense_vectors.push_back(dense);
    Collection* coll = Coll(options);
    const char* words[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
                           "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi",
                           "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega"};
    std::mt19937 rng(11);
    std::vector<Document> batch;
    RandomEmbedder embedder;
    for (size_t i = 0; i < kSweepDocs; ++i) {
      std::string text;
      const size_t n = 4 + rng() % 10;
      for (size_t w = 0; w < n; ++w) {
        // Skewed: low words are frequent, high ones rare.
        const size_t pick = std::min<size_t>(std::size(words) - 1, (rng() % 24) * (rng() % 24) / 23);
        text += std::string(words[pick]) + " ";
      }
      json metadata = {{"bucket", i % 1000}, {"group", "g" + std::to_string(i % 10)}, {"even", i % 2 == 0}};
      batch.push_back(Doc("d" + std::to_string(i), text, metadata.dump()));
      if (batch.size() == 500) {
        EXPECT_TRUE(coll->Upsert(std::move(batch), &embedder).ok());
        batch.clear();
      }
    }
    return coll;
  }
  static size_t DocNumber(const Chunk& chunk) { return std::stoul(chunk.doc_id.substr(1)); }

  struct Ranked {
    uint64_t point_id;
    float score;
    size_t doc;
  };
  // Unfiltered, every point, exactly (the brute-force side).
  std::vector<Ranked> FullRanking(Collection* coll, SearchRequest request) {
    request.limit = kSweepDocs;
    request.exact = true;
    auto all = coll->Search(request);
    EXPECT_TRUE(all.ok()) << all.status().ToString();
    std::vector<Ranked> out;
    for (const auto& hit : all->hits) out.push_back({hit.point_id, hit.score, DocNumber(hit.chunk)});
    return out;
  }
  // The predicate over the full ranking, then the page.
  static std::vector<std::pair<uint64_t, float>> Reference(const std::vector<Ranked>& ranking,
                                                           const std::function<bool(size_t)>& pass,
                                                           size_t k) {
    std::vector<std::pair<uint64_t, float>> out;
    for (const Ranked& r : ranking) {
      if (out.size() == k) break;
      if (pass(r.doc)) out.emplace_back(r.point_id, r.score);
    }
    return out;
  }
  std::vector<std::pair<uint64_t, float>> Filtered(Collection* coll, SearchRequest request,
                                                   const Filter& filter, size_t k, bool exact,
                                                   const std::function<bool(size_t)>& pass) {
    request.limit = k;
    request.filter = filter;
    request.exact = exact;
    auto found = coll->Search(request);
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    std::vector<std::pair<uint64_t, float>> out;
    if (!found.ok()) return out;
    for (const auto& hit : found->hits) {
      EXPECT_TRUE(pass(DocNumber(hit.chunk))) << hit.chunk.doc_id << " should have been filtered";
      out.emplace_back(hit.point_id, hit.score);
    }
    return out;
  }
};

TEST_F(FilterSweepTest, Bm25AndDenseEqualBruteForceAtEverySelectivity) {
  Collection* coll = Build();
  ASSERT_NE(coll, nullptr);
  const std::vector<std::string> queries = {"alpha beta", "omega psi", "gamma theta kappa",
                                            "sigma", "delta alpha omega"};
  std::vector<std::vector<Ranked>> bm25_rankings, dense_rankings;
  for (const std::string& q : queries) {
    SearchRequest bm25;
    bm25.text = q;
    bm25_rankings.push_back(FullRanking(coll, bm25));
    SearchRequest dense;
    dense.vector = VectorQuery{"v", RandomVector(q)};
    dense_rankings.push_back(FullRanking(coll, dense));
  }
  for (int indexed = 0; indexed < 2; ++indexed) {
    SCOPED_TRACE(indexed ? "with payload indexes" : "without payload indexes");
    if (indexed) {
      ASSERT_TRUE(coll->CreatePayloadIndex("bucket", PayloadIndexType::kInteger).ok());
      ASSERT_TRUE(coll->CreatePayloadIndex("group", PayloadIndexType::kKeyword).ok());
      ASSERT_TRUE(coll->CreatePayloadIndex("even", PayloadIndexType::kBool).ok());
    }
    double dense_found = 0, dense_wanted = 0;
    for (const SweepFilter& sweep : SweepFilters()) {
      SCOPED_TRACE(sweep.name);
      for (size_t q = 0; q < queries.size(); ++q) {
        for (size_t k : {size_t{1}, size_t{10}, size_t{50}}) {
          SearchRequest bm25;
          bm25.text = queries[q];
          EXPECT_EQ(Filtered(coll, bm25, sweep.filter, k, false, sweep.pass),
                    Reference(bm25_rankings[q], sweep.pass, k))
              << queries[q] << " k=" << k;
        }
        if (q >= 3) continue;  // dense: fewer queries (an exact scan evaluates every point)
        for (size_t k : {size_t{10}, size_t{50}}) {
          SearchRequest dense;
          dense.vector = VectorQuery{"v", RandomVector(queries[q])};
          auto want = Reference(dense_rankings[q], sweep.pass, k);
          EXPECT_EQ(Filtered(coll, dense, sweep.filter, k, true, sweep.pass), want)
              << queries[q] << " k=" << k;
          // The graph walk (or its exact fallback for selective filters).
          auto approx = Filtered(coll, dense, sweep.filter, k, false, sweep.pass);
          EXPECT_EQ(approx.size(), want.size());
          for (const auto& hit : approx) {
            dense_found += std::count(want.begin(), want.end(), hit) ? 1 : 0;
          }
          dense_wanted += static_cast<double>(want.size());
        }
      }
    }
    EXPECT_GE(dense_found / dense_wanted, 0.9) << "filtered HNSW recall";
  }
}

TEST_F(FilterSweepTest, PagingAndWithoutText) {
  Collection* coll = Build();
  ASSERT_NE(coll, nullptr);
  ASSERT_TRUE(coll->CreatePayloadIndex("group", PayloadIndexType::kKeyword).ok());
  const SweepFilter ten = SweepFilters()[2];
  SearchRequest request;
  request.text = "alpha gamma";
  request.filter = ten.filter;
  request.limit = 30;
  auto all = coll->Search(request);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->hits.size(), 30u);
  request.offset = 10;
  request.limit = 10;
  request.with_text = false;
  auto page = coll->Search(request);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->hits.size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(page->hits[i].point_id, all->hits[10 + i].point_id);
    EXPECT_EQ(page->hits[i].chunk.doc_id, "");
  }
}

}  // namespace
}  // namespace quarry
