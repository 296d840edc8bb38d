#include "server/wire.h"

#include <gtest/gtest.h>

namespace quarry::server {
namespace {

using nlohmann::json;

json Parse(const std::string& text) {
  auto parsed = ParseJsonObject(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status().message();
  return parsed.ok() ? *parsed : json::object();
}

TEST(WireTest, ParseJsonObjectErrors) {
  EXPECT_NE(ParseJsonObject("").status().message().find("empty"), std::string::npos);
  EXPECT_NE(ParseJsonObject("{\"a\": \"\xff\"}").status().message().find("UTF-8"), std::string::npos);
  EXPECT_NE(ParseJsonObject("{\"a\": ").status().message().find("malformed JSON"), std::string::npos);
  EXPECT_NE(ParseJsonObject("[1]").status().message().find("got array"), std::string::npos);
  EXPECT_NE(ParseJsonObject(std::string(100, '[') + std::string(100, ']')).status().message().find("deeper"),
            std::string::npos);
  EXPECT_TRUE(ParseJsonObject("{\"a\": \"[[[[\"}", 2).ok());  // brackets inside strings do not count
}

TEST(WireTest, Embeddings) {
  DecodeLimits limits;
  auto one = DecodeEmbeddingsRequest(Parse(R"({"input": "hi", "model": "m"})"), limits);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->texts, std::vector<std::string>{"hi"});
  EXPECT_EQ(one->model, "m");
  auto many = DecodeEmbeddingsRequest(
      Parse(R"({"input": ["a", "b"], "encoding_format": "base64", "dimensions": 4})"), limits);
  ASSERT_TRUE(many.ok());
  EXPECT_EQ(many->texts.size(), 2u);
  EXPECT_TRUE(many->base64);
  EXPECT_EQ(*many->dimensions, 4);
  auto tokens = DecodeEmbeddingsRequest(Parse(R"({"input": [1, 2, 3]})"), limits);
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(tokens->token_inputs.size(), 1u);
  auto token_lists = DecodeEmbeddingsRequest(Parse(R"({"input": [[1, 2], [3]]})"), limits);
  ASSERT_TRUE(token_lists.ok());
  EXPECT_EQ(token_lists->token_inputs.size(), 2u);

  struct Bad {
    const char* body;
    const char* fragment;
  };
  for (const Bad& bad : std::vector<Bad>{
           {R"({})", "missing field 'input'"},
           {R"({"input": 5})", "input: expected a string"},
           {R"({"input": []})", "input: must not be an empty array"},
           {R"({"input": [""]})", "input[0]: must not be empty"},
           {R"({"input": ["a", 3]})", "input[1]: expected a string, got number"},
           {R"({"input": [1, "a"]})", "input[1]: expected an integer"},
           {R"({"input": [[1], "a"]})", "input[1]: expected an array"},
           {R"({"input": "a", "model": 3})", "model: expected a string"},
           {R"({"input": "a", "encoding_format": "hex"})", "encoding_format"},
           {R"({"input": "a", "dimensions": 0})", "dimensions: must be at least 1"},
           {R"({"input": "a", "dimensions": 1.5})", "dimensions: expected an integer"},
       }) {
    auto result = DecodeEmbeddingsRequest(Parse(bad.body), limits);
    ASSERT_FALSE(result.ok()) << bad.body;
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(result.status().message().find(bad.fragment), std::string::npos)
        << bad.body << " -> " << result.status().message();
  }
  limits.max_inputs = 2;
  auto too_many = DecodeEmbeddingsRequest(Parse(R"({"input": ["a", "b", "c"]})"), limits);
  EXPECT_EQ(too_many.status().code(), StatusCode::kResourceExhausted);
}

TEST(WireTest, Rerank) {
  DecodeLimits limits;
  auto request = DecodeRerankRequest(
      Parse(R"({"query": "q", "documents": ["a", {"text": "b"}], "top_n": 1, "return_documents": false})"),
      limits);
  ASSERT_TRUE(request.ok()) << request.status().message();
  EXPECT_EQ(request->documents, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(*request->top_n, 1u);
  EXPECT_FALSE(request->return_documents);
  EXPECT_FALSE(DecodeRerankRequest(Parse(R"({"documents": ["a"]})"), limits).ok());
  EXPECT_FALSE(DecodeRerankRequest(Parse(R"({"query": "q", "documents": []})"), limits).ok());
  EXPECT_FALSE(DecodeRerankRequest(Parse(R"({"query": "q", "documents": [1]})"), limits).ok());
  EXPECT_FALSE(DecodeRerankRequest(Parse(R"({"query": "q", "documents": [{"txt": "a"}]})"), limits).ok());
  EXPECT_FALSE(DecodeRerankRequest(Parse(R"({"query": "q", "documents": ["a"], "top_n": 0})"), limits).ok());
}

TEST(WireTest, Tei) {
  DecodeLimits limits;
  auto embed = DecodeTeiEmbedRequest(Parse(R"({"inputs": "a", "normalize": false, "truncate": true})"), limits);
  ASSERT_TRUE(embed.ok());
  EXPECT_FALSE(embed->normalize);
  EXPECT_FALSE(DecodeTeiEmbedRequest(Parse(R"({"inputs": {}})"), limits).ok());
  auto rerank = DecodeTeiRerankRequest(Parse(R"({"query": "q", "texts": ["a", "b"], "raw_scores": true})"), limits);
  ASSERT_TRUE(rerank.ok());
  EXPECT_TRUE(rerank->raw_scores);
  EXPECT_FALSE(DecodeTeiRerankRequest(Parse(R"({"query": "q", "texts": "a"})"), limits).ok());
}

TEST(WireTest, Documents) {
  DecodeLimits limits;
  auto request = DecodeDocumentsRequest(Parse(R"({"documents": [
      {"id": "a", "text": "hello", "title": "T", "source": "s", "metadata": {}},
      {"id": 7, "html": "<p>x</p>"},
      {"id": "c", "markdown": "# y"}], "wait": true})"),
                                        limits);
  ASSERT_TRUE(request.ok()) << request.status().message();
  ASSERT_EQ(request->documents.size(), 3u);
  EXPECT_EQ(request->documents[0].format, DocumentFormat::kText);
  EXPECT_EQ(*request->documents[0].title, "T");
  EXPECT_EQ(request->documents[1].id, "7");
  EXPECT_EQ(request->documents[1].format, DocumentFormat::kHtml);
  EXPECT_EQ(request->documents[2].format, DocumentFormat::kMarkdown);
  EXPECT_EQ(request->documents[0].metadata, "");  // {} is none
  auto with_metadata = DecodeDocumentsRequest(
      Parse(R"({"documents": [{"id": "a", "text": "x", "metadata": {"k": 1, "tags": ["a"]}}]})"), limits);
  ASSERT_TRUE(with_metadata.ok()) << with_metadata.status().message();
  EXPECT_EQ(with_metadata->documents[0].metadata, R"({"k":1,"tags":["a"]})");
  for (const char* bad : {
           R"({})",
           R"({"documents": {}})",
           R"({"documents": []})",
           R"({"documents": [{"text": "x"}]})",
           R"({"documents": [{"id": "", "text": "x"}]})",
           R"({"documents": [{"id": "a"}]})",
           R"({"documents": [{"id": "a", "text": "x", "html": "y"}]})",
           R"({"documents": [{"id": "a", "text": 3}]})",
           R"({"documents": [{"id": "a", "text": "x", "metadata": [1]}]})",
           R"({"documents": [{"id": "a", "text": "x", "colour": "red"}]})",
           R"({"documents": [{"id": "a", "text": "x"}], "extra": 1})",
           R"({"documents": [{"id": "a", "text": "x"}], "wait": "yes"})",
       }) {
    auto result = DecodeDocumentsRequest(Parse(bad), limits);
    EXPECT_FALSE(result.ok()) << bad;
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  limits.max_documents = 1;
  EXPECT_EQ(DecodeDocumentsRequest(Parse(R"({"documents": [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}]})"),
                                   limits)
                .status()
                .code(),
            StatusCode::kResourceExhausted);
}

TEST(WireTest, Search) {
  auto search = DecodeSearchBody(Parse(R"({"query": "q", "limit": 3, "offset": 2, "with_text": false,
                                           "using": "v", "params": {"hnsw_ef": 32, "exact": true}})"));
  ASSERT_TRUE(search.ok()) << search.status().message();
  EXPECT_EQ(search->limit, 3u);
  EXPECT_EQ(search->offset, 2u);
  EXPECT_FALSE(search->with_text);
  EXPECT_EQ(search->using_vector, "v");
  EXPECT_EQ(search->hnsw_ef, 32u);
  EXPECT_TRUE(search->exact);
  EXPECT_FALSE(DecodeSearchBody(Parse(R"({})")).ok());
  EXPECT_FALSE(DecodeSearchBody(Parse(R"({"query": "q", "limit": 0})")).ok());
  EXPECT_FALSE(DecodeSearchBody(Parse(R"({"query": "q", "limit": -1})")).ok());
  EXPECT_FALSE(DecodeSearchBody(Parse(R"({"query": "q", "limit": 20000})")).ok());
  EXPECT_FALSE(DecodeSearchBody(Parse(R"({"query": "q", "top": 3})")).ok());
}

TEST(WireTest, CreateCollection) {
  auto unnamed = DecodeCreateCollection(Parse(R"({"vectors": {"size": 4, "distance": "Dot"},
      "hnsw_config": {"m": 8, "ef_construct": 50},
      "quantization_config": {"scalar": {"type": "int8", "quantile": 0.99}},
      "shard_number": 1, "quarry": {"chunk_max_tokens": 128, "bm25_k1": 1.2, "rrf_k": 60,
                                   "fusion_weights": [0.7, 0.3]},
      "sparse_vectors": {"splade": {"modifier": "idf"}, "plain": {}}})"));
  ASSERT_TRUE(unnamed.ok()) << unnamed.status().message();
  ASSERT_EQ(unnamed->dense_vectors.size(), 1u);
  EXPECT_EQ(unnamed->dense_vectors[0].name, kDefaultVectorName);
  EXPECT_EQ(unnamed->dense_vectors[0].dim, 4u);
  EXPECT_EQ(unnamed->dense_vectors[0].metric, VectorMetric::kDot);
  EXPECT_EQ(unnamed->dense_vectors[0].hnsw_m, 8u);
  EXPECT_EQ(unnamed->dense_vectors[0].quantization, VectorQuantization::kInt8);
  EXPECT_EQ(unnamed->chunk_max_tokens, 128u);
  EXPECT_FLOAT_EQ(unnamed->bm25_k1, 1.2f);
  EXPECT_EQ(unnamed->rrf_k, 60);
  EXPECT_EQ(unnamed->fusion_weights, (std::vector<float>{0.7f, 0.3f}));
  ASSERT_EQ(unnamed->sparse_vectors.size(), 2u);
  EXPECT_EQ(unnamed->sparse_vectors[1].name, "splade");  // JSON objects iterate sorted
  EXPECT_TRUE(unnamed->sparse_vectors[1].idf);
  EXPECT_FALSE(unnamed->sparse_vectors[0].idf);

  auto named = DecodeCreateCollection(Parse(R"({"vectors": {"a": {"size": 2, "distance": "Cosine"},
      "b": {"size": 3, "distance": "Euclid", "quantization_config": {"binary": {}}}}})"));
  ASSERT_TRUE(named.ok()) << named.status().message();
  ASSERT_EQ(named->dense_vectors.size(), 2u);
  EXPECT_EQ(named->dense_vectors[1].metric, VectorMetric::kL2);
  EXPECT_EQ(named->dense_vectors[1].quantization, VectorQuantization::kBinary);

  EXPECT_TRUE(DecodeCreateCollection(Parse("{}")).ok());
  for (const char* bad : {
           R"({"vector": {"size": 4, "distance": "Dot"}})",
           R"({"vectors": {"size": "4", "distance": "Dot"}})",
           R"({"vectors": {"size": 4, "distance": "Manhattan"}})",
           R"({"vectors": {"size": 4}})",
           R"({"vectors": {"size": 0, "distance": "Dot"}})",
           R"({"vectors": {"a": 3}})",
           R"({"vectors": {"size": 4, "distance": "Dot", "quantization_config": {"product": {}}}})",
           R"({"sparse_vectors": {"bm25": {"modifier": "bm42"}}})",
           R"({"sparse_vectors": {"bm25": 1}})",
           R"({"quarry": {"chunk_max_tokens": 1}})",
           R"({"quarry": {"k1": 1}})",
           R"({"quarry": {"fusion_weights": [1]}})",
           R"({"quarry": {"fusion_weights": [1, -1]}})",
           R"({"quarry": {"rrf_k": 0}})",
       }) {
    EXPECT_FALSE(DecodeCreateCollection(Parse(bad)).ok()) << bad;
  }
}

TEST(WireTest, Filter) {
  auto search = DecodeSearchBody(Parse(R"({"query": "q", "filter": {
      "must": [{"key": "lang", "match": {"value": "en"}},
               {"key": "year", "range": {"gte": 2020, "lt": 2024.5, "gt": null}},
               {"should": [{"key": "tags[]", "match": {"any": ["a", "b"]}},
                           {"is_empty": {"key": "a.b"}}]}],
      "should": {"key": "n", "match": {"except": [1, 2]}},
      "must_not": [{"is_null": {"key": "x[0].y"}}, {"has_id": [1, 2, 3]},
                   {"key": "text", "match": {"text": "dead"}}, {"key": "ok", "match": {"value": true}},
                   {"key": "n", "match": {"value": -4}}, {}]}})"));
  ASSERT_TRUE(search.ok()) << search.status().message();
  ASSERT_TRUE(search->filter.has_value());
  const Filter& f = *search->filter;
  ASSERT_EQ(f.must.size(), 3u);
  ASSERT_EQ(f.should.size(), 1u);  // one condition instead of a list
  ASSERT_EQ(f.must_not.size(), 6u);
  const auto& lang = std::get<FieldCondition>(f.must[0].value);
  EXPECT_EQ(lang.key, "lang");
  EXPECT_EQ(lang.op, FieldCondition::Op::kMatch);
  EXPECT_EQ(lang.values, std::vector<MatchValue>{MatchValue(std::string("en"))});
  const auto& year = std::get<FieldCondition>(f.must[1].value);
  EXPECT_EQ(year.op, FieldCondition::Op::kRange);
  EXPECT_EQ(year.range.gte, 2020.0);
  EXPECT_EQ(year.range.lt, 2024.5);
  EXPECT_FALSE(year.range.gt.has_value());
  const auto& nested = std::get<Filter>(f.must[2].value);
  ASSERT_EQ(nested.should.size(), 2u);
  EXPECT_EQ(std::get<FieldCondition>(nested.should[0].value).op, FieldCondition::Op::kMatchAny);
  EXPECT_EQ(std::get<FieldCondition>(nested.should[1].value).op, FieldCondition::Op::kIsEmpty);
  const auto& except = std::get<FieldCondition>(f.should[0].value);
  EXPECT_EQ(except.op, FieldCondition::Op::kMatchExcept);
  EXPECT_EQ(except.values, (std::vector<MatchValue>{int64_t{1}, int64_t{2}}));
  EXPECT_EQ(std::get<FieldCondition>(f.must_not[0].value).op, FieldCondition::Op::kIsNull);
  EXPECT_EQ(std::get<HasIdCondition>(f.must_not[1].value).ids, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(std::get<FieldCondition>(f.must_not[2].value).text, "dead");
  EXPECT_EQ(std::get<FieldCondition>(f.must_not[3].value).values[0], MatchValue(true));
  EXPECT_EQ(std::get<FieldCondition>(f.must_not[4].value).values[0], MatchValue(int64_t{-4}));
  EXPECT_TRUE(std::get<Filter>(f.must_not[5].value).empty());  // {} is an empty filter
  EXPECT_FALSE(DecodeSearchBody(Parse(R"({"query": "q"})"))->filter.has_value());
  EXPECT_FALSE(DecodeSearchBody(Parse(R"({"query": "q", "filter": null})"))->filter.has_value());

  struct Bad {
    const char* filter;
    const char* message;
  };
  for (const Bad& bad : std::vector<Bad>{
           {R"([])", "filter: expected an object, got array"},
           {R"({"must": 3})", "filter.must: expected an array of conditions, got number"},
           {R"({"must": [{"key": "a", "match": {"value": 1}}, {"key": "y", "range": {"gt": "x"}}]})",
            "filter.must[1].range.gt: expected a number, got string"},
           {R"({"should": [{"key": "a", "range": {"above": 1}}]})",
            "filter.should[0].range: unknown field 'above'"},
           {R"({"must": [{"key": 3, "match": {"value": 1}}]})", "filter.must[0].key: expected a string"},
           {R"({"must": [{"key": "a..b", "match": {"value": 1}}]})", "filter.must[0].key: invalid key path"},
           {R"({"must": [{"key": "", "match": {"value": 1}}]})", "filter.must[0].key: empty key path"},
           {R"({"must": [{"match": {"value": 1}}]})", "filter.must[0]: expected a condition"},
           {R"({"must": [{"key": "a"}]})", "filter.must[0]: give exactly one of 'match' or 'range'"},
           {R"({"must": [{"key": "a", "match": {"value": 1}, "range": {}}]})", "exactly one"},
           {R"({"must": [{"key": "a", "match": {"value": 1.5}}]})",
            "filter.must[0].match.value: expected a string, an integer or a boolean, got number"},
           {R"({"must": [{"key": "a", "match": {"value": null}}]})", "filter.must[0].match.value"},
           {R"({"must": [{"key": "a", "match": {}}]})", "filter.must[0].match: give exactly one"},
           {R"({"must": [{"key": "a", "match": {"value": 1, "any": [1]}}]})", "give exactly one"},
           {R"({"must": [{"key": "a", "match": {"any": ["x", 1]}}]})",
            "filter.must[0].match.any[1]: expected a string like the first value"},
           {R"({"must": [{"key": "a", "match": {"except": [true]}}]})",
            "filter.must[0].match.except[0]: expected a string or an integer, got boolean"},
           {R"({"must": [{"key": "a", "match": {"any": "x"}}]})", "filter.must[0].match.any: expected an array"},
           {R"({"must": [{"key": "a", "match": {"text": 3}}]})", "filter.must[0].match.text: expected a string"},
           {R"({"must": [{"key": "a", "match": {"phrase": "x"}}]})", "'phrase' matching is not supported"},
           {R"({"must": [{"key": "a", "match": {"values": 1}}]})", "unknown field 'values'"},
           {R"({"must": [{"key": "a", "geo_radius": {}}]})", "geo_radius conditions are not supported"},
           {R"({"must": [{"is_empty": {"field": "a"}}]})", "filter.must[0].is_empty: unknown field 'field'"},
           {R"({"must": [{"is_null": "a"}]})", "filter.must[0].is_null: expected an object"},
           {R"({"must": [{"is_null": {}}]})", "missing field 'filter.must[0].is_null.key'"},
           {R"({"must": [{"has_id": [1, -2]}]})", "filter.must[0].has_id[1]: expected a point id"},
           {R"({"must": [{"has_id": ["5c56c793-69f3-4fbf-87e6-c4bf54c28c2"]}]})",
            "filter.must[0].has_id[0]: '5c56c793-69f3-4fbf-87e6-c4bf54c28c2' is not a valid point id"},
           {R"({"must": [{"has_id": 1}]})", "filter.must[0].has_id: expected an array"},
           {R"({"must": [{"nested": {"key": "a", "filter": {}}}]})", "'nested' conditions are not supported"},
           {R"({"must": [{"must": [{"key": "a", "range": {"lt": []}}]}]})",
            "filter.must[0].must[0].range.lt: expected a number, got array"},
           {R"({"must": [5]})", "filter.must[0]: expected an object (a condition), got number"},
           {R"({"min_should": {"conditions": [], "min_count": 1}})", "filter.min_should: is not supported"},
           {R"({"must": [], "filters": []})", "filter: unknown field 'filters'"},
       }) {
    auto result = DecodeSearchBody(Parse(std::string(R"({"query": "q", "filter": )") + bad.filter + "}"));
    ASSERT_FALSE(result.ok()) << bad.filter;
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument) << bad.filter;
    EXPECT_NE(result.status().message().find(bad.message), std::string::npos)
        << bad.filter << " -> " << result.status().message();
  }
}

TEST(WireTest, CreateIndex) {
  auto keyword = DecodeCreateIndex(Parse(R"({"field_name": "meta.lang", "field_schema": "keyword"})"));
  ASSERT_TRUE(keyword.ok()) << keyword.status().message();
  EXPECT_EQ(keyword->field_name, "meta.lang");
  EXPECT_EQ(keyword->type, PayloadIndexType::kKeyword);
  auto object = DecodeCreateIndex(
      Parse(R"({"field_name": "n", "field_schema": {"type": "integer", "lookup": true, "range": true}})"));
  ASSERT_TRUE(object.ok()) << object.status().message();
  EXPECT_EQ(object->type, PayloadIndexType::kInteger);
  EXPECT_EQ(DecodeCreateIndex(Parse(R"({"field_name": "f", "field_schema": "float"})"))->type,
            PayloadIndexType::kFloat);
  EXPECT_EQ(DecodeCreateIndex(Parse(R"({"field_name": "b", "field_schema": "bool"})"))->type,
            PayloadIndexType::kBool);
  struct Bad {
    const char* body;
    const char* message;
  };
  for (const Bad& bad : std::vector<Bad>{
           {R"({"field_schema": "keyword"})", "missing field 'field_name'"},
           {R"({"field_name": "a"})", "missing field 'field_schema'"},
           {R"({"field_name": 1, "field_schema": "keyword"})", "field_name: expected a string"},
           {R"({"field_name": "a[", "field_schema": "keyword"})", "field_name: invalid key path"},
           {R"({"field_name": "a", "field_schema": "text"})", "field_schema: 'text' indexes are not supported"},
           {R"({"field_name": "a", "field_schema": "keywords"})", "field_schema: unknown index type 'keywords'"},
           {R"({"field_name": "a", "field_schema": {"type": "geo"}})", "field_schema.type: 'geo'"},
           {R"({"field_name": "a", "field_schema": {}})", "missing field 'field_schema.type'"},
           {R"({"field_name": "a", "field_schema": 3})", "field_schema: expected a string or an object"},
           {R"({"field_name": "a", "field_schema": "keyword", "wait": true})", "unknown field 'wait'"},
       }) {
    auto result = DecodeCreateIndex(Parse(bad.body));
    ASSERT_FALSE(result.ok()) << bad.body;
    EXPECT_NE(result.status().message().find(bad.message), std::string::npos)
        << bad.body << " -> " << result.status().message();
  }
}

TEST(WireTest, Base64) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(std::string("\xff\x00\x10", 3)), "/wAQ");
}

}  // namespace
}  // namespace quarry::server
