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
  for (const char* bad : {
           R"({})",
           R"({"documents": {}})",
           R"({"documents": []})",
           R"({"documents": [{"text": "x"}]})",
           R"({"documents": [{"id": "", "text": "x"}]})",
           R"({"documents": [{"id": "a"}]})",
           R"({"documents": [{"id": "a", "text": "x", "html": "y"}]})",
           R"({"documents": [{"id": "a", "text": 3}]})",
           R"({"documents": [{"id": "a", "text": "x", "metadata": {"k": 1}}]})",
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
      "shard_number": 1, "quarry": {"chunk_max_tokens": 128, "bm25_k1": 1.2}})"));
  ASSERT_TRUE(unnamed.ok()) << unnamed.status().message();
  ASSERT_EQ(unnamed->dense_vectors.size(), 1u);
  EXPECT_EQ(unnamed->dense_vectors[0].name, kDefaultVectorName);
  EXPECT_EQ(unnamed->dense_vectors[0].dim, 4u);
  EXPECT_EQ(unnamed->dense_vectors[0].metric, VectorMetric::kDot);
  EXPECT_EQ(unnamed->dense_vectors[0].hnsw_m, 8u);
  EXPECT_EQ(unnamed->dense_vectors[0].quantization, VectorQuantization::kInt8);
  EXPECT_EQ(unnamed->chunk_max_tokens, 128u);
  EXPECT_FLOAT_EQ(unnamed->bm25_k1, 1.2f);

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
           R"({"sparse_vectors": {"bm25": {}}})",
           R"({"quarry": {"chunk_max_tokens": 1}})",
           R"({"quarry": {"k1": 1}})",
       }) {
    EXPECT_FALSE(DecodeCreateCollection(Parse(bad)).ok()) << bad;
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
