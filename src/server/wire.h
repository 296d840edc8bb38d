// Wire formats: JSON request bodies decoded into plain structs, with errors
// that name the offending field ("input[3]: expected a string, got number").
//
// Decoders check shape, types and limits only; what the engine or a model
// refuses is reported by them. Errors are InvalidArgument (answer 400) or,
// for more items than one call may carry, ResourceExhausted (answer 413).
// Nothing here depends on the engine internals or the models, so the fuzz
// build links it alone.
//
// Thread-safety: pure functions.
#ifndef QUARRY_SERVER_WIRE_H_
#define QUARRY_SERVER_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quarry/collection.h"
#include "quarry/status.h"

namespace quarry::server {

struct DecodeLimits {
  size_t max_inputs = 2048;            // texts per embeddings call
  size_t max_rerank_documents = 1000;  // passages per rerank call
  size_t max_documents = 1000;         // documents per upsert call
  size_t max_json_depth = 64;
};

// Parses a request body that must be a JSON object. Refuses an empty body,
// invalid UTF-8 (naming the byte offset), malformed JSON (line and column)
// and nesting deeper than `max_depth`.
Result<nlohmann::json> ParseJsonObject(std::string_view body, size_t max_depth = 64);

// "string", "number", "object", ...
const char* JsonTypeName(const nlohmann::json& value);

// POST /v1/embeddings (OpenAI).
struct EmbeddingsRequest {
  std::string model;               // empty: the default model
  std::vector<std::string> texts;  // when input is text
  std::vector<std::vector<int64_t>> token_inputs;  // when input is token ids
  bool base64 = false;             // encoding_format
  std::optional<int64_t> dimensions;
};
Result<EmbeddingsRequest> DecodeEmbeddingsRequest(const nlohmann::json& body,
                                                  const DecodeLimits& limits);

// POST /v1/rerank (Cohere / Jina).
struct RerankRequest {
  std::string model;
  std::string query;
  std::vector<std::string> documents;
  std::optional<size_t> top_n;
  bool return_documents = true;
};
Result<RerankRequest> DecodeRerankRequest(const nlohmann::json& body, const DecodeLimits& limits);

// POST /embed (Hugging Face TEI).
struct TeiEmbedRequest {
  std::string model;  // Quarry extension; TEI serves one model
  std::vector<std::string> inputs;
  bool normalize = true;
};
Result<TeiEmbedRequest> DecodeTeiEmbedRequest(const nlohmann::json& body,
                                              const DecodeLimits& limits);

// POST /rerank (Hugging Face TEI).
struct TeiRerankRequest {
  std::string model;  // Quarry extension
  std::string query;
  std::vector<std::string> texts;
  bool raw_scores = false;
  bool return_text = false;
};
Result<TeiRerankRequest> DecodeTeiRerankRequest(const nlohmann::json& body,
                                                const DecodeLimits& limits);

// POST /collections/{name}/documents (Quarry).
enum class DocumentFormat { kText, kHtml, kMarkdown };
struct DocumentInput {
  std::string id;
  DocumentFormat format = DocumentFormat::kText;
  std::string content;
  std::optional<std::string> title;
  std::string source;
  std::string metadata = {};  // a JSON object, compact; "" = none
};
struct DocumentsRequest {
  std::vector<DocumentInput> documents;
  bool wait = true;
};
Result<DocumentsRequest> DecodeDocumentsRequest(const nlohmann::json& body,
                                                const DecodeLimits& limits);

// POST /collections/{name}/search (Quarry).
struct SearchBody {
  std::string query;
  size_t limit = 10;
  size_t offset = 0;
  bool with_text = true;
  std::string using_vector;  // the named vector for dense / hybrid modes
  size_t hnsw_ef = 0;
  bool exact = false;
  // Query pipeline (src/search/hybrid.h). mode empty: "dense" when `using` is
  // given, else "sparse".
  std::string mode;             // hybrid | dense | sparse
  std::string rerank = "off";   // off | on | auto
  size_t rerank_top = 20;
  std::string fusion = "rrf";   // rrf | dbsf
  int rrf_k = 0;                // 0: the collection's default, else 2
  std::vector<float> weights;   // dense first
  std::optional<Filter> filter = {};  // Qdrant's filter
};
Result<SearchBody> DecodeSearchBody(const nlohmann::json& body);

// A Qdrant filter ({"must": [...], "should": [...], "must_not": [...]}).
// Conditions: {"key", "match": {"value" | "any" | "except" | "text"}},
// {"key", "range": {"gt", "gte", "lt", "lte"}}, {"is_empty": {"key"}},
// {"is_null": {"key"}}, {"has_id": [ids]} and nested filters. Errors name
// the field from `where` on ("filter.must[1].range.gt: expected a number").
Result<Filter> DecodeFilter(const nlohmann::json& value, const std::string& where);

// PUT /collections/{name}/index (Qdrant's create payload index):
// {"field_name": "...", "field_schema": "keyword" | "integer" | "float" |
// "bool" | {"type": ...}}.
struct CreateIndexBody {
  std::string field_name;
  PayloadIndexType type = PayloadIndexType::kKeyword;
};
Result<CreateIndexBody> DecodeCreateIndex(const nlohmann::json& body);

// PUT /collections/{name} (Qdrant's CreateCollection, plus a "quarry" object
// for chunking and BM25 options). An unnamed vector is called "default".
inline constexpr const char* kDefaultVectorName = "default";
Result<CollectionOptions> DecodeCreateCollection(const nlohmann::json& body);

// Standard base64 (RFC 4648, with padding).
std::string Base64Encode(std::string_view bytes);

}  // namespace quarry::server

#endif  // QUARRY_SERVER_WIRE_H_
