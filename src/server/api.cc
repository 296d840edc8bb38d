#include "server/api.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>

#include "search/hybrid.h"
#include "text/loader.h"

namespace quarry::server {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kVersion = "0.1.0";
constexpr size_t kEmbedBatch = 256;  // chunks per Embedder call during upserts

enum class ErrorStyle { kQdrant, kOpenAi, kTei };

ErrorStyle StyleFor(std::string_view path) {
  if (path.starts_with("/v1/") || path == "/v1") return ErrorStyle::kOpenAi;
  if (path == "/embed" || path == "/rerank") return ErrorStyle::kTei;
  return ErrorStyle::kQdrant;
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

HttpResponse JsonResponse(int status, const json& body) {
  HttpResponse response;
  response.status = status;
  response.body = Dump(body);
  return response;
}

HttpResponse TextResponse(int status, std::string body, std::string content_type = "text/plain; charset=utf-8") {
  HttpResponse response;
  response.status = status;
  response.content_type = std::move(content_type);
  response.body = std::move(body);
  return response;
}

// Qdrant's envelope.
HttpResponse Ok(const json& result, Clock::time_point start) {
  return JsonResponse(200, {{"result", result}, {"status", "ok"}, {"time", SecondsSince(start)}});
}

HttpResponse ErrorResponse(ErrorStyle style, int status, const std::string& message,
                           double seconds = 0) {
  switch (style) {
    case ErrorStyle::kOpenAi: {
      const char* type = status >= 500 ? "server_error"
                         : status == 401 ? "authentication_error"
                         : status == 403 ? "permission_error"
                         : status == 404 ? "not_found_error"
                                         : "invalid_request_error";
      return JsonResponse(status, {{"error",
                                    {{"message", message},
                                     {"type", type},
                                     {"param", nullptr},
                                     {"code", nullptr}}}});
    }
    case ErrorStyle::kTei: {
      const char* type = status == 503 ? "overloaded"
                         : status >= 500 ? "backend"
                         : status == 401 || status == 403 ? "unauthorized"
                                                        : "validation";
      return JsonResponse(status, {{"error", message}, {"error_type", type}});
    }
    case ErrorStyle::kQdrant:
      break;
  }
  return JsonResponse(status, {{"status", {{"error", message}}}, {"time", seconds}});
}

// HTTP status for an error from a decoder.
int DecodeHttpStatus(const Status& status) {
  return status.code() == StatusCode::kResourceExhausted ? 413 : 400;
}

// HTTP status for an error from the engine or a model.
int EngineHttpStatus(const Status& status) {
  switch (status.code()) {
    case StatusCode::kNotFound: return 404;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kResourceExhausted: return 507;
    case StatusCode::kUnsupported: return 501;
    case StatusCode::kAborted: return 503;
    default: return 500;
  }
}

// A float as the double with the shortest decimal form that reads back as
// the same float (0.1f prints as 0.1, not 0.10000000149011612).
double ShortFloat(float value) {
  char buf[32];
  auto result = std::to_chars(buf, buf + sizeof(buf), value);
  *result.ptr = '\0';
  return std::strtod(buf, nullptr);
}

void AppendFloats(const std::vector<float>& values, std::string* out) {
  out->push_back('[');
  char buf[32];
  for (size_t idx = 0; idx < values.size(); ++idx) {
    if (idx > 0) out->push_back(',');
    auto result = std::to_chars(buf, buf + sizeof(buf), values[idx]);
    out->append(buf, result.ptr);
  }
  out->push_back(']');
}

bool AllFinite(const std::vector<std::vector<float>>& vectors) {
  for (const auto& vector : vectors) {
    for (float value : vector) {
      if (!std::isfinite(value)) return false;
    }
  }
  return true;
}

void Normalize(std::vector<float>* vector) {
  double norm = 0;
  for (float value : *vector) norm += static_cast<double>(value) * value;
  norm = std::sqrt(norm);
  if (norm > 0) {
    for (float& value : *vector) value = static_cast<float>(value / norm);
  }
}

float Sigmoid(float logit) { return 1.0f / (1.0f + std::exp(-logit)); }

// Scores `passages` against `query` with the reranker; `order` gets their
// indices, best first (stable for equal scores). Shared by the Cohere/Jina
// and TEI rerank routes, which differ only in their wire shapes.
Status RankPassages(const RerankModel& model, std::string_view query,
                    const std::vector<std::string_view>& passages, std::vector<float>* logits,
                    std::vector<size_t>* order) {
  QUARRY_RETURN_IF_ERROR(model.reranker->Score(query, passages, logits));
  if (logits->size() != passages.size()) {
    return Status::Internal("the model returned the wrong number of scores");
  }
  order->resize(passages.size());
  for (size_t idx = 0; idx < order->size(); ++idx) (*order)[idx] = idx;
  std::stable_sort(order->begin(), order->end(),
                   [&](size_t a, size_t b) { return (*logits)[a] > (*logits)[b]; });
  return Status::OK();
}

bool ConstantTimeEquals(std::string_view secret, std::string_view given) {
  // Time depends on the lengths only, never on where the bytes differ.
  size_t length = std::max(secret.size(), given.size());
  unsigned char diff = secret.size() != given.size() ? 1 : 0;
  for (size_t idx = 0; idx < length; ++idx) {
    unsigned char a = idx < secret.size() ? static_cast<unsigned char>(secret[idx]) : 0;
    unsigned char b = idx < given.size() ? static_cast<unsigned char>(given[idx]) : 0;
    diff |= static_cast<unsigned char>(a ^ b);
  }
  return diff == 0;
}

std::string MethodLabel(std::string_view method) {
  for (const char* known : {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    if (method == known) return known;
  }
  return method.empty() ? "none" : "other";
}

const char* DistanceName(VectorMetric metric) {
  switch (metric) {
    case VectorMetric::kCosine: return "Cosine";
    case VectorMetric::kDot: return "Dot";
    case VectorMetric::kL2: return "Euclid";
  }
  return "Cosine";
}

json QuantizationJson(VectorQuantization quantization) {
  switch (quantization) {
    case VectorQuantization::kInt8:
      return {{"scalar", {{"type", "int8"}, {"always_ram", true}}}};
    case VectorQuantization::kBinary:
      return {{"binary", {{"always_ram", true}}}};
    case VectorQuantization::kNone:
      break;
  }
  return nullptr;
}

json VectorParamsJson(const DenseVectorConfig& config) {
  json params = {{"size", config.dim},
                 {"distance", DistanceName(config.metric)},
                 {"hnsw_config", {{"m", config.hnsw_m}, {"ef_construct", config.hnsw_ef_construction}}},
                 {"on_disk", false}};
  json quantization = QuantizationJson(config.quantization);
  if (!quantization.is_null()) params["quantization_config"] = quantization;
  return params;
}

json QuarryOptionsJson(const CollectionOptions& options) {
  return {{"chunk_max_tokens", options.chunk_max_tokens},
          {"chunk_overlap_tokens", options.chunk_overlap_tokens},
          {"bm25_k1", ShortFloat(options.bm25_k1)},
          {"bm25_b", ShortFloat(options.bm25_b)},
          {"title_boost", ShortFloat(options.title_boost)},
          {"stem", options.stem},
          {"remove_stop_words", options.remove_stop_words},
          {"rrf_k", options.rrf_k > 0 ? options.rrf_k : search::kDefaultRrfK},
          {"fusion_weights", options.fusion_weights}};
}

// Qdrant's payload_schema: the payload indexes.
json PayloadSchemaJson(const CollectionInfo& info) {
  json schema = json::object();
  for (const auto& index : info.payload_indexes) {
    schema[index.field] = {{"data_type", PayloadIndexTypeName(index.type)}, {"points", index.points}};
  }
  return schema;
}

json SparseParamsJson(const CollectionOptions& options) {
  json out = json::object();
  for (const auto& config : options.sparse_vectors) {
    out[config.name] = {{"modifier", config.idf ? "idf" : "none"}};
  }
  return out;
}

// Qdrant's CollectionInfo, as far as a Quarry collection maps onto it.
json QdrantCollectionInfo(const CollectionInfo& info) {
  json vectors = json::object();
  uint64_t indexed = 0;
  const auto& dense = info.options.dense_vectors;
  if (dense.size() == 1 && dense[0].name == kDefaultVectorName) {
    vectors = VectorParamsJson(dense[0]);
  } else {
    for (const auto& config : dense) vectors[config.name] = VectorParamsJson(config);
  }
  for (const auto& field : info.dense_vectors) indexed += field.vectors;
  uint32_t m = dense.empty() ? 16 : dense[0].hnsw_m;
  uint32_t ef_construct = dense.empty() ? 100 : dense[0].hnsw_ef_construction;
  return {
      {"status", "green"},
      {"optimizer_status", "ok"},
      {"indexed_vectors_count", indexed},
      {"points_count", info.chunks},
      {"segments_count", 1},
      {"config",
       {{"params",
         {{"vectors", vectors},
          {"shard_number", 1},
          {"replication_factor", 1},
          {"write_consistency_factor", 1},
          {"on_disk_payload", true},
          {"sparse_vectors", SparseParamsJson(info.options)}}},
        {"hnsw_config",
         {{"m", m},
          {"ef_construct", ef_construct},
          {"full_scan_threshold", 10000},
          {"max_indexing_threads", 0},
          {"on_disk", false}}},
        {"optimizer_config",
         {{"deleted_threshold", 0.2},
          {"vacuum_min_vector_number", 1000},
          {"default_segment_number", 1},
          {"max_segment_size", nullptr},
          {"memmap_threshold", nullptr},
          {"indexing_threshold", 0},
          {"flush_interval_sec", 5},
          {"max_optimization_threads", 1}}},
        {"wal_config", {{"wal_capacity_mb", 32}, {"wal_segments_ahead", 0}}},
        {"quantization_config", nullptr}}},
      {"payload_schema", PayloadSchemaJson(info)},
      {"quarry",
       {{"documents", info.documents},
        {"chunks", info.chunks},
        {"terms", info.terms},
        {"disk_bytes", info.disk_bytes},
        {"options", QuarryOptionsJson(info.options)}}},
  };
}

json StatsJson(const CollectionInfo& info) {
  json dense = json::array();
  for (const auto& field : info.dense_vectors) {
    dense.push_back({{"name", field.config.name},
                     {"dim", field.config.dim},
                     {"distance", DistanceName(field.config.metric)},
                     {"vectors", field.vectors},
                     {"memory_bytes", field.memory_bytes},
                     {"snapshot_seq", field.snapshot_seq}});
  }
  return {{"name", info.name},
          {"documents", info.documents},
          {"chunks", info.chunks},
          {"terms", info.terms},
          {"last_seq", info.last_seq},
          {"snapshot_seq", info.snapshot_seq},
          {"disk_bytes", info.disk_bytes},
          {"index_memory_bytes", info.index_memory_bytes},
          {"read_only", info.read_only},
          {"dense_vectors", dense},
          {"options", QuarryOptionsJson(info.options)}};
}

// Adds the keys of a chunk's metadata (JSON object text) to `object`, keeping
// the keys it has (a hit's fixed fields win over metadata of the same name).
void AddMetadata(const std::string& metadata, json* object) {
  if (metadata.empty()) return;
  json parsed = json::parse(metadata, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return;
  for (auto it = parsed.begin(); it != parsed.end(); ++it) {
    if (!object->contains(it.key())) (*object)[it.key()] = std::move(it.value());
  }
}

Result<Document> ToDocument(const DocumentInput& input, size_t index) {
  std::string parse_source = input.source.empty() ? input.id : input.source;
  Result<Document> parsed = Status::Internal("unparsed");
  switch (input.format) {
    case DocumentFormat::kHtml: parsed = text::ParseHtml(input.content, parse_source); break;
    case DocumentFormat::kMarkdown: parsed = text::ParseMarkdown(input.content, parse_source); break;
    case DocumentFormat::kText: parsed = text::ParseText(input.content, parse_source); break;
  }
  if (!parsed.ok()) {
    return Status::InvalidArgument("documents[" + std::to_string(index) + "]: " +
                                   parsed.status().message());
  }
  Document doc = std::move(parsed).value();
  doc.doc_id = input.id;
  doc.source = input.source;
  if (input.title) doc.title = *input.title;
  doc.metadata = input.metadata;
  return doc;
}

// Embeds chunks with the server's models for a collection's named vectors.
class ModelChunkEmbedder final : public ChunkEmbedder {
 public:
  explicit ModelChunkEmbedder(const ModelRegistry* models) : models_(models) {}

  Status Embed(const std::vector<const Chunk*>& chunks, const DenseVectorConfig& config,
               std::vector<std::vector<float>>* vectors) override {
    const EmbeddingModel* model = models_->EmbedderForVector(config.name);
    if (model == nullptr) return Status::FailedPrecondition("no embedding model is loaded");
    if (model->embedder->dim() != config.dim) {
      return Status::InvalidArgument(
          "vector '" + config.name + "' has " + std::to_string(config.dim) + " dimensions but model '" +
          model->embedder->model_id() + "' makes " + std::to_string(model->embedder->dim()) +
          " (a model whose id equals the vector name is used for it, else the default model)");
    }
    vectors->clear();
    vectors->reserve(chunks.size());
    for (size_t begin = 0; begin < chunks.size(); begin += kEmbedBatch) {
      size_t end = std::min(chunks.size(), begin + kEmbedBatch);
      std::vector<std::string_view> texts;
      for (size_t idx = begin; idx < end; ++idx) texts.push_back(chunks[idx]->text);
      std::vector<std::vector<float>> batch;
      QUARRY_RETURN_IF_ERROR(model->embedder->Embed(texts, embed::TextKind::kDocument, &batch));
      for (auto& vector : batch) vectors->push_back(std::move(vector));
    }
    return Status::OK();
  }

 private:
  const ModelRegistry* models_;
};

std::string RandomId() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

std::string UtcTimestamp() {
  auto now = std::chrono::system_clock::now();
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm_utc;
  ::gmtime_r(&seconds, &tm_utc);
  char buf[40];
  size_t len = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm_utc);
  std::snprintf(buf + len, sizeof(buf) - len, ".%03dZ", static_cast<int>(millis));
  return buf;
}


// ---- points rendering (Qdrant's Record / ScoredPoint) ----

json PointPayloadJson(const Chunk& chunk, const PayloadSelector& selector) {
  json payload = json::object();
  if (IsApiPoint(chunk)) {
    if (!chunk.metadata.empty()) {
      payload = json::parse(chunk.metadata, nullptr, /*allow_exceptions=*/false);
      if (!payload.is_object()) payload = json::object();
    }
  } else {  // a chunk of a document: its fields over the document's metadata
    payload = {{"doc_id", chunk.doc_id},   {"title", chunk.title},
               {"section", chunk.section}, {"source", chunk.source},
               {"chunk_index", chunk.chunk_index}, {"text", chunk.text}};
    AddMetadata(chunk.metadata, &payload);
  }
  if (!selector.include.empty()) {
    json kept = json::object();
    for (const std::string& key : selector.include) {
      if (auto it = payload.find(key); it != payload.end()) kept[key] = *it;
    }
    payload = std::move(kept);
  }
  for (const std::string& key : selector.exclude) payload.erase(key);
  return payload;
}

json PointVectorsJson(const PointRecord& record, const VectorSelector& selector,
                      const CollectionOptions& options) {
  auto wanted = [&](const std::string& name) {
    return selector.names.empty() ||
           std::find(selector.names.begin(), selector.names.end(), name) != selector.names.end();
  };
  auto floats = [](const std::vector<float>& values) {
    json out = json::array();
    for (float v : values) out.push_back(ShortFloat(v));
    return out;
  };
  if (options.dense_vectors.size() == 1 && options.dense_vectors[0].name == kDefaultVectorName &&
      options.sparse_vectors.empty()) {
    if (record.vectors.empty()) return nullptr;
    return floats(record.vectors[0].second);
  }
  json out = json::object();
  for (const auto& [name, values] : record.vectors) {
    if (wanted(name)) out[name] = floats(values);
  }
  for (const auto& [name, vector] : record.sparse_vectors) {
    if (wanted(name)) out[name] = {{"indices", vector.indices}, {"values", floats(vector.values)}};
  }
  return out;
}

json PointRecordJson(const PointRecord& record, const PayloadSelector& payload,
                     const VectorSelector& vectors, const CollectionOptions& options) {
  json out = {{"id", PointIdJson(record.id)}};
  if (payload.enabled) out["payload"] = PointPayloadJson(record.chunk, payload);
  if (vectors.enabled) out["vector"] = PointVectorsJson(record, vectors, options);
  return out;
}

// Qdrant's UpdateResult: writes are durable when acknowledged, so always "completed".
json UpdateResult(uint64_t operation_id) {
  return {{"operation_id", operation_id}, {"status", "completed"}};
}

}  // namespace

// ---- ModelRegistry ----

bool ModelRegistry::Taken(std::string_view id) const {
  for (const auto& model : embedders_) {
    if (model.embedder->model_id() == id) return true;
  }
  for (const auto& model : rerankers_) {
    if (model.reranker->model_id() == id) return true;
  }
  return false;
}

Status ModelRegistry::AddEmbedder(EmbeddingModel model) {
  if (model.embedder == nullptr) return Status::InvalidArgument("no embedder");
  if (Taken(model.embedder->model_id())) {
    return Status::AlreadyExists("two models are called '" + model.embedder->model_id() + "'");
  }
  embedders_.push_back(std::move(model));
  return Status::OK();
}

Status ModelRegistry::AddReranker(RerankModel model) {
  if (model.reranker == nullptr) return Status::InvalidArgument("no reranker");
  if (Taken(model.reranker->model_id())) {
    return Status::AlreadyExists("two models are called '" + model.reranker->model_id() + "'");
  }
  rerankers_.push_back(std::move(model));
  return Status::OK();
}

const EmbeddingModel* ModelRegistry::FindEmbedder(std::string_view id) const {
  if (id.empty()) return embedders_.empty() ? nullptr : &embedders_.front();
  for (const auto& model : embedders_) {
    if (model.embedder->model_id() == id) return &model;
  }
  return nullptr;
}

const RerankModel* ModelRegistry::FindReranker(std::string_view id) const {
  if (id.empty()) return rerankers_.empty() ? nullptr : &rerankers_.front();
  for (const auto& model : rerankers_) {
    if (model.reranker->model_id() == id) return &model;
  }
  return nullptr;
}

const EmbeddingModel* ModelRegistry::EmbedderForVector(std::string_view vector_name) const {
  for (const auto& model : embedders_) {
    if (model.embedder->model_id() == vector_name) return &model;
  }
  return FindEmbedder("");
}

// ---- ApiService ----

ApiService::ApiService(Engine* engine, const ModelRegistry* models, ApiOptions options)
    : engine_(engine), models_(models), options_(std::move(options)) {
  const char* log_env = std::getenv("QUARRY_LOG");
  if (log_env != nullptr && std::string_view(log_env) == "quiet") options_.access_log = false;
  AddRoutes();
  AddMetrics();
}

void ApiService::Configure(ServerOptions* options) {
  options->on_access = [this](const AccessRecord& record) { OnAccess(record); };
  options->make_error = [this](const HttpRequest* request, int status, const std::string& message) {
    return MakeError(request, status, message);
  };
}

HttpResponse ApiService::MakeError(const HttpRequest* request, int status,
                                   const std::string& message) const {
  return ErrorResponse(request == nullptr ? ErrorStyle::kQdrant : StyleFor(request->path), status,
                       message);
}

void ApiService::AddRoutes() {
  auto bind = [this](HttpResponse (ApiService::*method)(RouteContext&)) {
    return [this, method](RouteContext& ctx) { return (this->*method)(ctx); };
  };
  Router& r = router_;
  r.Add("GET", "/", Access::kPublic, bind(&ApiService::Root));
  r.Add("GET", "/healthz", Access::kPublic,
        [](RouteContext&) { return TextResponse(200, "healthz check passed"); });
  r.Add("GET", "/livez", Access::kPublic,
        [](RouteContext&) { return TextResponse(200, "livez check passed"); });
  r.Add("GET", "/readyz", Access::kPublic, [this](RouteContext&) {
    return ready_.load() ? TextResponse(200, "all shards are ready")
                         : TextResponse(503, "shutting down");
  });
  r.Add("GET", "/metrics", Access::kRead, bind(&ApiService::Metrics));
  r.Add("GET", "/collections", Access::kRead, bind(&ApiService::ListCollections));
  r.Add("GET", "/collections/{name}", Access::kRead, bind(&ApiService::GetCollection));
  r.Add("PUT", "/collections/{name}", Access::kWrite, bind(&ApiService::CreateCollection));
  r.Add("DELETE", "/collections/{name}", Access::kWrite, bind(&ApiService::DeleteCollection));
  r.Add("GET", "/collections/{name}/exists", Access::kRead, bind(&ApiService::CollectionExists));
  r.Add("GET", "/collections/{name}/stats", Access::kRead, bind(&ApiService::CollectionStats));
  r.Add("POST", "/collections/{name}/documents", Access::kWrite,
        bind(&ApiService::UpsertDocuments));
  r.Add("GET", "/collections/{name}/documents/{id}", Access::kRead, bind(&ApiService::GetDocument));
  r.Add("DELETE", "/collections/{name}/documents/{id}", Access::kWrite,
        bind(&ApiService::DeleteDocument));
  r.Add("POST", "/collections/{name}/search", Access::kRead, bind(&ApiService::Search));
  r.Add("PUT", "/collections/{name}/index", Access::kWrite, bind(&ApiService::CreatePayloadIndex));
  r.Add("DELETE", "/collections/{name}/index/{field}", Access::kWrite,
        bind(&ApiService::DeletePayloadIndex));
  r.Add("PUT", "/collections/{name}/points", Access::kWrite, bind(&ApiService::UpsertPoints));
  r.Add("POST", "/collections/{name}/points", Access::kRead, bind(&ApiService::RetrievePoints));
  r.Add("GET", "/collections/{name}/points/{id}", Access::kRead, bind(&ApiService::GetPoint));
  r.Add("POST", "/collections/{name}/points/delete", Access::kWrite, bind(&ApiService::DeletePoints));
  r.Add("POST", "/collections/{name}/points/payload", Access::kWrite, bind(&ApiService::SetPayload));
  r.Add("PUT", "/collections/{name}/points/payload", Access::kWrite,
        bind(&ApiService::OverwritePayload));
  r.Add("POST", "/collections/{name}/points/payload/delete", Access::kWrite,
        bind(&ApiService::DeletePayloadKeys));
  r.Add("POST", "/collections/{name}/points/payload/clear", Access::kWrite,
        bind(&ApiService::ClearPayload));
  r.Add("POST", "/collections/{name}/points/scroll", Access::kRead, bind(&ApiService::ScrollPoints));
  r.Add("POST", "/collections/{name}/points/count", Access::kRead, bind(&ApiService::CountPoints));
  r.Add("POST", "/collections/{name}/points/search", Access::kRead, bind(&ApiService::SearchPoints));
  r.Add("POST", "/collections/{name}/points/search/batch", Access::kRead,
        bind(&ApiService::SearchPointsBatch));
  r.Add("POST", "/collections/{name}/points/query", Access::kRead, bind(&ApiService::QueryPoints));
  r.Add("POST", "/collections/{name}/points/query/batch", Access::kRead,
        bind(&ApiService::QueryPointsBatch));
  r.Add("GET", "/v1/models", Access::kRead, bind(&ApiService::ListModels));
  r.Add("POST", "/v1/embeddings", Access::kRead, bind(&ApiService::OpenAiEmbeddings));
  r.Add("POST", "/v1/rerank", Access::kRead, bind(&ApiService::OpenAiRerank));
  r.Add("POST", "/embed", Access::kRead, bind(&ApiService::TeiEmbed));
  r.Add("POST", "/rerank", Access::kRead, bind(&ApiService::TeiRerank));
}

void ApiService::AddCacheMetrics() {
  cache::LayeredCache* c = options_.cache;
  using KindField = uint64_t cache::KindStats::*;
  auto per_kind = [c](std::vector<std::pair<const char*, KindField>> layers) {
    return [c, layers] {
      const cache::CacheStats stats = c->Stats();
      std::vector<GaugeSample> samples;
      for (size_t kind = 0; kind < cache::kKindCount; ++kind) {
        for (const auto& [layer, field] : layers) {
          samples.push_back({{{"layer", layer}, {"kind", cache::KindName(static_cast<cache::Kind>(kind))}},
                             static_cast<double>(stats.kinds[kind].*field)});
        }
      }
      return samples;
    };
  };
  metrics_.AddCounterCollector(
      "quarry_cache_hits_total", "Cache hits by layer (memory, redis) and kind.",
      per_kind({{"memory", &cache::KindStats::memory_hits}, {"redis", &cache::KindStats::redis_hits}}));
  metrics_.AddCounterCollector("quarry_cache_misses_total",
                               "Cache misses by layer (memory, redis) and kind.",
                               per_kind({{"memory", &cache::KindStats::memory_misses},
                                         {"redis", &cache::KindStats::redis_misses}}));
  metrics_.AddGaugeCollector("quarry_cache_hit_ratio", "Hits over lookups, both layers, by kind.",
                             [c] {
                               const cache::CacheStats stats = c->Stats();
                               std::vector<GaugeSample> samples;
                               for (size_t kind = 0; kind < cache::kKindCount; ++kind) {
                                 const auto k = static_cast<cache::Kind>(kind);
                                 samples.push_back({{{"kind", cache::KindName(k)}}, stats.HitRate(k)});
                               }
                               return samples;
                             });
  auto scalar = [c](auto field) {
    return [c, field] {
      return std::vector<GaugeSample>{{{}, static_cast<double>(c->Stats().*field)}};
    };
  };
  metrics_.AddGaugeCollector("quarry_cache_memory_bytes", "Bytes held by the memory layer.",
                             scalar(&cache::CacheStats::memory_bytes));
  metrics_.AddGaugeCollector("quarry_cache_memory_budget_bytes", "Byte budget of the memory layer.",
                             scalar(&cache::CacheStats::memory_budget));
  metrics_.AddGaugeCollector("quarry_cache_memory_items", "Entries in the memory layer.",
                             scalar(&cache::CacheStats::memory_items));
  metrics_.AddCounterCollector("quarry_cache_evictions_total",
                               "Entries evicted from the memory layer by its byte budget.",
                               scalar(&cache::CacheStats::evictions));
  metrics_.AddGaugeCollector("quarry_cache_redis_up", "1 when the last Redis command succeeded.",
                             [c] {
                               const cache::CacheStats stats = c->Stats();
                               return std::vector<GaugeSample>{
                                   {{}, stats.redis_configured && stats.redis_up ? 1.0 : 0.0}};
                             });
  metrics_.AddCounterCollector("quarry_cache_redis_errors_total",
                               "Failed Redis commands and connects (timeouts, refused, garbage).",
                               scalar(&cache::CacheStats::redis_errors));
  metrics_.AddCounterCollector("quarry_cache_redis_skipped_total",
                               "Redis calls skipped while it was down or every connection busy.",
                               scalar(&cache::CacheStats::redis_skipped));
}

void ApiService::AddMetrics() {
  requests_total_ = metrics_.AddCounter("quarry_http_requests_total",
                                        "HTTP requests answered, by method, route and status.",
                                        {"method", "route", "status"});
  request_seconds_ = metrics_.AddHistogram(
      "quarry_http_request_duration_seconds",
      "Time from a complete request to its response (queueing included), in seconds.",
      {"method", "route", "status"}, DefaultLatencyBuckets());
  stage_seconds_ = metrics_.AddHistogram(
      "quarry_search_stage_duration_seconds",
      "Time spent in each stage of a computed (not cached) text search, in seconds.", {"stage"},
      DefaultLatencyBuckets());
  searches_total_ = metrics_.AddCounter("quarry_searches_total",
                                        "Text searches answered, by outcome (computed, cached).",
                                        {"outcome"});
  if (options_.cache != nullptr) AddCacheMetrics();
  metrics_.AddGaugeCollector("process_resident_memory_bytes", "Resident memory size in bytes.", [] {
    return std::vector<GaugeSample>{{{}, static_cast<double>(ProcessResidentBytes())}};
  });
  auto server_gauge = [this](uint64_t ServerStats::*field) {
    return [this, field] {
      const HttpServer* server = server_.load();
      double value = server == nullptr ? 0.0 : static_cast<double>(server->stats().*field);
      return std::vector<GaugeSample>{{{}, value}};
    };
  };
  metrics_.AddGaugeCollector("quarry_http_open_connections", "Open client connections.",
                             server_gauge(&ServerStats::connections));
  metrics_.AddGaugeCollector("quarry_http_queued_requests", "Requests waiting for a worker.",
                             server_gauge(&ServerStats::queued));
  metrics_.AddGaugeCollector("quarry_http_in_flight_requests",
                             "Requests queued or running in the workers.",
                             server_gauge(&ServerStats::in_flight));
  metrics_.AddGaugeCollector("quarry_http_rejected_overload",
                             "Requests answered 503 because the queue was full, since start.",
                             server_gauge(&ServerStats::rejected_overload));
  // Index sizes, per collection (read when scraped).
  struct CollectionGauge {
    const char* name;
    const char* help;
    uint64_t CollectionInfo::*field;
  };
  static const CollectionGauge kGauges[] = {
      {"quarry_collection_documents", "Documents in the collection.", &CollectionInfo::documents},
      {"quarry_collection_points", "Chunks (points) in the collection.", &CollectionInfo::chunks},
      {"quarry_collection_terms", "Distinct BM25 terms.", &CollectionInfo::terms},
      {"quarry_collection_disk_bytes", "Store and snapshot files, bytes.", &CollectionInfo::disk_bytes},
      {"quarry_collection_index_memory_bytes", "In-memory BM25 index, bytes.",
       &CollectionInfo::index_memory_bytes},
  };
  auto infos = [this] {
    std::vector<CollectionInfo> out;
    std::shared_lock lock(collections_mu_);
    for (const std::string& name : engine_->ListCollections()) {
      auto collection = engine_->GetCollection(name);
      if (collection.ok()) out.push_back((*collection)->Info());
    }
    return out;
  };
  for (const CollectionGauge& gauge : kGauges) {
    auto field = gauge.field;
    metrics_.AddGaugeCollector(gauge.name, gauge.help, [infos, field] {
      std::vector<GaugeSample> samples;
      for (const CollectionInfo& info : infos()) {
        samples.push_back({{{"collection", info.name}}, static_cast<double>(info.*field)});
      }
      return samples;
    });
  }
  metrics_.AddGaugeCollector("quarry_collection_vectors", "Dense vectors indexed, per named vector.",
                             [infos] {
                               std::vector<GaugeSample> samples;
                               for (const CollectionInfo& info : infos()) {
                                 for (const auto& field : info.dense_vectors) {
                                   samples.push_back({{{"collection", info.name},
                                                       {"vector", field.config.name}},
                                                      static_cast<double>(field.vectors)});
                                 }
                               }
                               return samples;
                             });
  metrics_.AddGaugeCollector("quarry_collection_vector_memory_bytes",
                             "Heap of each dense index, bytes.", [infos] {
                               std::vector<GaugeSample> samples;
                               for (const CollectionInfo& info : infos()) {
                                 for (const auto& field : info.dense_vectors) {
                                   samples.push_back({{{"collection", info.name},
                                                       {"vector", field.config.name}},
                                                      static_cast<double>(field.memory_bytes)});
                                 }
                               }
                               return samples;
                             });
  // Sparse vectors: points per named sparse vector, and the heap of its index.
  for (bool memory : {false, true}) {
    metrics_.AddGaugeCollector(
        memory ? "quarry_collection_sparse_memory_bytes" : "quarry_collection_sparse_vectors",
        memory ? "Heap of each sparse vector index, bytes." : "Points with each named sparse vector.",
        [infos, memory] {
          std::vector<GaugeSample> samples;
          for (const CollectionInfo& info : infos()) {
            for (const auto& field : info.sparse_vectors) {
              samples.push_back({{{"collection", info.name}, {"vector", field.config.name}},
                                 static_cast<double>(memory ? field.memory_bytes : field.vectors)});
            }
          }
          return samples;
        });
  }
}

void ApiService::OnAccess(const AccessRecord& record) {
  std::string method = MethodLabel(record.method);
  std::string route = record.route.empty() ? "none" : std::string(record.route);
  std::string status = std::to_string(record.status);
  requests_total_->With({method, route, status}).Increment();
  request_seconds_->With({method, route, status}).Observe(record.total_seconds);
  if (!options_.access_log) return;
  json line = {{"ts", UtcTimestamp()},
               {"remote", record.remote},
               {"method", record.method},
               {"path", record.path},
               {"route", record.route},
               {"status", record.status},
               {"bytes_in", record.bytes_in},
               {"bytes_out", record.bytes_out},
               {"queue_ms", std::round(record.queue_seconds * 1e6) / 1e3},
               {"duration_ms", std::round(record.total_seconds * 1e6) / 1e3}};
  std::string text = Dump(line);
  text.push_back('\n');
  ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
  (void)ignored;
}

HttpResponse ApiService::Handle(HttpRequest& request) {
  ErrorStyle style = StyleFor(request.path);
  RouteMatch match = router_.Match(request.method, request.path);
  std::string label = match.kind == RouteMatch::Kind::kFound ? match.route->pattern : "unmatched";
  auto fail = [&](int status, const std::string& message) {
    HttpResponse response = ErrorResponse(style, status, message);
    response.route = label;
    return response;
  };
  if (match.kind == RouteMatch::Kind::kBadPath) return fail(400, match.problem);

  // API keys.
  Access access = match.kind == RouteMatch::Kind::kFound ? match.route->access : Access::kRead;
  bool keys = !options_.api_key.empty() || !options_.read_only_api_key.empty();
  if (keys && access != Access::kPublic) {
    std::string given;
    if (const std::string* header = request.Header("api-key")) {
      given = *header;
    } else if (const std::string* auth = request.Header("authorization")) {
      if (auth->size() > 7 && EqualsIgnoreCase(std::string_view(*auth).substr(0, 7), "bearer ")) {
        given = auth->substr(7);
        size_t first = given.find_first_not_of(' ');
        given = first == std::string::npos ? "" : given.substr(first);
      }
    }
    if (given.empty()) {
      HttpResponse response = fail(401, "Must provide an API key or an Authorization bearer token");
      response.headers.emplace_back("WWW-Authenticate", "Bearer");
      return response;
    }
    // Both comparisons always run.
    bool read_write = !options_.api_key.empty() && ConstantTimeEquals(options_.api_key, given);
    bool read_only = !options_.read_only_api_key.empty() &&
                     ConstantTimeEquals(options_.read_only_api_key, given);
    if (!read_write && !read_only) {
      HttpResponse response = fail(401, "Invalid API key or JWT");
      response.headers.emplace_back("WWW-Authenticate", "Bearer");
      return response;
    }
    if (!read_write && access == Access::kWrite) {
      return fail(403, "Forbidden: the read-only API key cannot call " + request.method + " " +
                           (match.route != nullptr ? match.route->pattern : request.path));
    }
  }

  if (match.kind == RouteMatch::Kind::kNotFound) {
    return fail(404, "Not found: no route for " + request.method + " " + request.path);
  }
  if (match.kind == RouteMatch::Kind::kMethodNotAllowed) {
    HttpResponse response = fail(405, "method " + request.method + " is not allowed for " +
                                          request.path + " (allowed: " + match.allow + ")");
    response.headers.emplace_back("Allow", match.allow);
    return response;
  }
  RouteContext ctx{request, std::move(match.params)};
  HttpResponse response;
  try {
    response = match.route->handler(ctx);
  } catch (const std::exception& e) {
    response = ErrorResponse(style, 500, std::string("internal error: ") + e.what());
  }
  response.route = label;
  return response;
}

Result<Collection*> ApiService::OpenCollection(const std::string& name) {
  QUARRY_RETURN_IF_ERROR(Engine::ValidateCollectionName(name));
  return engine_->GetCollection(name);
}

// ---- service routes ----

HttpResponse ApiService::Root(RouteContext&) {
  return JsonResponse(200, {{"title", "quarry - retrieval engine"}, {"version", kVersion}});
}

HttpResponse ApiService::Metrics(RouteContext&) {
  return TextResponse(200, metrics_.Expose(), "text/plain; version=0.0.4; charset=utf-8");
}

// ---- collections (Qdrant) ----

HttpResponse ApiService::ListCollections(RouteContext&) {
  auto start = Clock::now();
  json list = json::array();
  for (const std::string& name : engine_->ListCollections()) list.push_back({{"name", name}});
  return Ok({{"collections", list}}, start);
}

HttpResponse ApiService::GetCollection(RouteContext& ctx) {
  auto start = Clock::now();
  std::shared_lock lock(collections_mu_);
  auto collection = OpenCollection(ctx.params[0]);
  if (!collection.ok()) {
    return ErrorResponse(ErrorStyle::kQdrant, EngineHttpStatus(collection.status()),
                         collection.status().message(), SecondsSince(start));
  }
  return Ok(QdrantCollectionInfo((*collection)->Info()), start);
}

HttpResponse ApiService::CollectionExists(RouteContext& ctx) {
  auto start = Clock::now();
  const std::string& name = ctx.params[0];
  Status valid = Engine::ValidateCollectionName(name);
  if (!valid.ok()) return ErrorResponse(ErrorStyle::kQdrant, 400, valid.message());
  auto names = engine_->ListCollections();
  bool exists = std::find(names.begin(), names.end(), name) != names.end();
  return Ok({{"exists", exists}}, start);
}

HttpResponse ApiService::CreateCollection(RouteContext& ctx) {
  auto start = Clock::now();
  const std::string& name = ctx.params[0];
  Status valid = Engine::ValidateCollectionName(name);
  if (!valid.ok()) return ErrorResponse(ErrorStyle::kQdrant, 400, valid.message());
  CollectionOptions options;
  if (ctx.request.body.find_first_not_of(" \t\r\n") != std::string::npos) {
    auto body = ParseJsonObject(ctx.request.body, options_.limits.max_json_depth);
    if (!body.ok()) return ErrorResponse(ErrorStyle::kQdrant, 400, body.status().message());
    auto decoded = DecodeCreateCollection(*body);
    if (!decoded.ok()) {
      return ErrorResponse(ErrorStyle::kQdrant, DecodeHttpStatus(decoded.status()),
                           decoded.status().message());
    }
    options = std::move(decoded).value();
  }
  std::unique_lock lock(collections_mu_);
  auto names = engine_->ListCollections();
  if (std::find(names.begin(), names.end(), name) != names.end()) {
    return ErrorResponse(ErrorStyle::kQdrant, 409,
                         "Wrong input: Collection `" + name + "` already exists!",
                         SecondsSince(start));
  }
  auto created = engine_->GetOrCreateCollection(name, options);
  if (!created.ok()) {
    // The engine may leave an empty store behind when it refuses the options;
    // remove it so the name stays free.
    names = engine_->ListCollections();
    if (created.status().code() == StatusCode::kInvalidArgument &&
        std::find(names.begin(), names.end(), name) != names.end()) {
      (void)engine_->DropCollection(name);
    }
    return ErrorResponse(ErrorStyle::kQdrant, EngineHttpStatus(created.status()),
                         created.status().message(), SecondsSince(start));
  }
  return Ok(true, start);
}

HttpResponse ApiService::DeleteCollection(RouteContext& ctx) {
  auto start = Clock::now();
  const std::string& name = ctx.params[0];
  Status valid = Engine::ValidateCollectionName(name);
  if (!valid.ok()) return ErrorResponse(ErrorStyle::kQdrant, 400, valid.message());
  std::unique_lock lock(collections_mu_);
  Status dropped = engine_->DropCollection(name);
  if (dropped.IsNotFound()) return Ok(false, start);  // idempotent, as in Qdrant
  if (!dropped.ok()) {
    return ErrorResponse(ErrorStyle::kQdrant, EngineHttpStatus(dropped), dropped.message(),
                         SecondsSince(start));
  }
  return Ok(true, start);
}

// ---- documents (Quarry) ----

HttpResponse ApiService::UpsertDocuments(RouteContext& ctx) {
  auto start = Clock::now();
  auto body = ParseJsonObject(ctx.request.body, options_.limits.max_json_depth);
  if (!body.ok()) return ErrorResponse(ErrorStyle::kQdrant, 400, body.status().message());
  auto decoded = DecodeDocumentsRequest(*body, options_.limits);
  if (!decoded.ok()) {
    return ErrorResponse(ErrorStyle::kQdrant, DecodeHttpStatus(decoded.status()),
                         decoded.status().message());
  }
  std::vector<Document> docs;
  docs.reserve(decoded->documents.size());
  for (size_t idx = 0; idx < decoded->documents.size(); ++idx) {
    auto doc = ToDocument(decoded->documents[idx], idx);
    if (!doc.ok()) return ErrorResponse(ErrorStyle::kQdrant, 400, doc.status().message());
    docs.push_back(std::move(doc).value());
  }
  std::shared_lock lock(collections_mu_);
  auto collection = OpenCollection(ctx.params[0]);
  if (!collection.ok()) {
    return ErrorResponse(ErrorStyle::kQdrant, EngineHttpStatus(collection.status()),
                         collection.status().message(), SecondsSince(start));
  }
  bool embed = !(*collection)->options().dense_vectors.empty() && models_ != nullptr &&
               models_->FindEmbedder("") != nullptr;
  ModelChunkEmbedder embedder(models_);
  auto stats = (*collection)->Upsert(std::move(docs), embed ? &embedder : nullptr);
  if (!stats.ok()) {
    return ErrorResponse(ErrorStyle::kQdrant, EngineHttpStatus(stats.status()),
                         stats.status().message(), SecondsSince(start));
  }
  return Ok({{"status", "completed"},
             {"added", stats->added},
             {"replaced", stats->replaced},
             {"unchanged", stats->unchanged},
             {"chunks_written", stats->chunks_written},
             {"chunks_deleted", stats->chunks_deleted},
             {"embedded", embed}},
            start);
}

HttpResponse ApiService::GetDocument(RouteContext& ctx) {
  auto start = Clock::now();
  std::shared_lock lock(collections_mu_);
  auto collection = OpenCollection(ctx.params[0]);
  if (!collection.ok()) {
    return ErrorResponse(ErrorStyle::kQdrant, EngineHttpStatus(collection.status()),
                         collection.status().message(), SecondsSince(start));
  }
  auto chunks = (*collection)->GetDocumentChunks(ctx.params[1]);
  if (!chunks.ok()) {
    return ErrorResponse(ErrorStyle::kQdrant, EngineHttpStatus(chunks.status()),
                         chunks.status().message(), SecondsSince(start));
  }
  json list = json::array();
  std::string title;
  std::string source;
  json metadata = json::object();
  for (const Chunk& chunk : *chunks) {
    title = chunk.title;
    source = chunk.source;
    AddMetadata(chunk.metadata, &metadata);
    list.push_back({{"chunk_index", chunk.chunk_index},
                    {"section", chunk.section},
                    {"begin", chunk.begin},
                    {"end", chunk.end},
                    {"text", chunk.text}});
  }
  return Ok({{"id", ctx.params[1]},
             {"title", title},
             {"source", source},
             {"metadata", metadata},
             {"chunks", list}},
            start);
}

HttpResponse ApiService::DeleteDocument(RouteContext& ctx) {
  auto start = Clock::now();
  std::shared_lock lock(collections_mu_);
  auto collection = OpenCollection(ctx.params[0]);
  if (!collection.ok()) {
    return ErrorResponse(ErrorStyle::kQdrant, EngineHttpStatus(collection.status()),
                         collection.status().message(), SecondsSince(start));
  }
  auto deleted = (*collection)->DeleteDocument(ctx.params[1]);
  if (!deleted.ok()) {
    return ErrorResponse(ErrorStyle::kQdrant, EngineHttpStatus(deleted.status()),
                         deleted.status().message(), SecondsSince(start));
  }
  return Ok({{"status", "completed"}, {"deleted_documents", *deleted}}, start);
}

HttpResponse ApiService::Search(RouteContext& ctx) {
  auto start = Clock::now();
  auto body = ParseJsonObject(ctx.request.body, options_.limits.max_json_depth);
  if (!body.ok()) return ErrorResponse(ErrorStyle::kQdrant, 400, body.status().message());
  auto decoded = DecodeSearchBody(*body);
  if (!decoded.ok()) return ErrorResponse(ErrorStyle::kQdrant, 400, decoded.status().message());
  search::TextSearchOptions options;
  options.text = decoded->query;
  options.limit = decoded->limit;
  options.offset = decoded->offset;
  options.with_text = decoded->with_text;
  options.hnsw_ef = decoded->hnsw_ef;
  options.exact = decoded->exact;
  options.rerank_top = decoded->rerank_top;
  options.rrf_k = decoded->rrf_k;
  options.weights = decoded->weights;
  options.fusion = decoded->fusion == "dbsf" ? search::FusionMethod::kDbsf
                                             : search::FusionMethod::kRrf;
  options.mode = *search::ParseMode(decoded->mode.empty()
                                        ? (decoded->using_vector.empty() ? "sparse" : "dense")
                                        : decoded->mode);
  options.rerank = *search::ParseRerankMode(decoded->rerank);
  options.filter = decoded->filter;
  std::shared_lock lock(collections_mu_);
  auto collection = OpenCollection(ctx.params[0]);
  if (!collection.ok()) {
    return ErrorResponse(ErrorStyle::kQdrant, EngineHttpStatus(collection.status()),
                         collection.status().message(), SecondsSince(start));
  }
  embed::Embedder* embedder = nullptr;
  if (options.mode != search::Mode::kSparse) {
    const auto& fields = (*collection)->options().dense_vectors;
    std::string name = decoded->using_vector;
    if (name.empty() && fields.size() == 1) name = fields[0].name;
    const DenseVectorConfig* config = nullptr;
    for (const auto& field : fields) {
      if (field.name == name) config = &field;
    }
    if (config == nullptr) {
      return ErrorResponse(ErrorStyle::kQdrant, 400,
                           name.empty() ? "collection '" + ctx.params[0] +
                                              "' has no single dense vector: name one in \"using\""
                                        : "collection '" + ctx.params[0] + "' has no vector '" +
                                              name + "'");
    }
    const EmbeddingModel* model =
        models_ == nullptr ? nullptr : models_->EmbedderForVector(config->name);
    if (model == nullptr) {
      return ErrorResponse(ErrorStyle::kQdrant, 400,
                           "no embedding model is loaded to embed the query for vector '" +
                               config->name + "'");
    }
    if (model->embedder->dim() != config->dim) {
      return ErrorResponse(ErrorStyle::kQdrant, 400,
                           "vector '" + config->name + "' has " + std::to_string(config->dim) +
                               " dimensions but model '" + model->embedder->model_id() +
                               "' makes " + std::to_string(model->embedder->dim()));
    }
    embedder = model->embedder.get();
    options.vector_name = config->name;
  }
  embed::Reranker* reranker = nullptr;
  if (options.rerank != search::RerankMode::kOff) {
    if (models_ == nullptr || models_->rerankers().empty()) {
      return ErrorResponse(ErrorStyle::kQdrant, 400,
                           "rerank needs a cross-encoder: start the server with --reranker DIR");
    }
    reranker = models_->rerankers()[0].reranker.get();
  }
  auto result = search::SearchText(**collection, embedder, reranker, options, options_.cache);
  if (!result.ok()) {
    return ErrorResponse(ErrorStyle::kQdrant, EngineHttpStatus(result.status()),
                         result.status().message(), SecondsSince(start));
  }
  searches_total_->With({result->cached ? "cached" : "computed"}).Increment();
  if (!result->cached) {
    const std::pair<const char*, double> stages[] = {
        {"embed", result->embed_ms}, {"dense", result->dense_ms}, {"sparse", result->sparse_ms},
        {"fuse", result->fuse_ms},   {"rerank", result->rerank_ms}};
    for (const auto& [stage, ms] : stages) {
      if (ms > 0) stage_seconds_->With({stage}).Observe(ms / 1000.0);
    }
  }
  const SearchResponse* response = &result->response;
  json hits = json::array();
  for (const SearchHit& hit : response->hits) {
    json item = {{"id", hit.point_id}, {"score", ShortFloat(hit.score)}};
    if (decoded->with_text) {
      item["doc_id"] = hit.chunk.doc_id;
      item["title"] = hit.chunk.title;
      item["section"] = hit.chunk.section;
      item["source"] = hit.chunk.source;
      item["chunk_index"] = hit.chunk.chunk_index;
      item["begin"] = hit.chunk.begin;
      item["end"] = hit.chunk.end;
      item["text"] = hit.chunk.text;
      AddMetadata(hit.chunk.metadata, &item);
    }
    hits.push_back(std::move(item));
  }
  return Ok({{"hits", hits},
             {"query_terms", response->query_terms},
             {"took_ms", response->took_ms},
             {"reranked", result->reranked},
             {"cached", result->cached},
             {"stages_ms", {{"embed", result->embed_ms},
                            {"dense", result->dense_ms},
                            {"sparse", result->sparse_ms},
                            {"fuse", result->fuse_ms},
                            {"rerank", result->rerank_ms}}}},
            start);
}

// ---- payload indexes (Qdrant) ----

HttpResponse ApiService::CreatePayloadIndex(RouteContext& ctx) {
  auto start = Clock::now();
  auto body = ParseJsonObject(ctx.request.body, options_.limits.max_json_depth);
  if (!body.ok()) return ErrorResponse(ErrorStyle::kQdrant, 400, body.status().message());
  auto decoded = DecodeCreateIndex(*body);
  if (!decoded.ok()) return ErrorResponse(ErrorStyle::kQdrant, 400, decoded.status().message());
  std::shared_lock lock(collections_mu_);
  auto collection = OpenCollection(ctx.params[0]);
  if (!collection.ok()) {
    return ErrorResponse(ErrorStyle::kQdrant, EngineHttpStatus(collection.status()),
                         collection.status().message(), SecondsSince(start));
  }
  Status created = (*collection)->CreatePayloadIndex(decoded->field_name, decoded->type);
  if (!created.ok()) {
    return ErrorResponse(ErrorStyle::kQdrant, EngineHttpStatus(created), created.message(),
                         SecondsSince(start));
  }
  return Ok({{"operation_id", 0}, {"status", "completed"}}, start);
}

HttpResponse ApiService::DeletePayloadIndex(RouteContext& ctx) {
  auto start = Clock::now();
  std::shared_lock lock(collections_mu_);
  auto collection = OpenCollection(ctx.params[0]);
  if (!collection.ok()) {
    return ErrorResponse(ErrorStyle::kQdrant, EngineHttpStatus(collection.status()),
                         collection.status().message(), SecondsSince(start));
  }
  Status deleted = (*collection)->DeletePayloadIndex(ctx.params[1]);
  if (!deleted.ok()) {
    return ErrorResponse(ErrorStyle::kQdrant, EngineHttpStatus(deleted), deleted.message(),
                         SecondsSince(start));
  }
  return Ok({{"operation_id", 0}, {"status", "completed"}}, start);
}

HttpResponse ApiService::CollectionStats(RouteContext& ctx) {
  auto start = Clock::now();
  std::shared_lock lock(collections_mu_);
  auto collection = OpenCollection(ctx.params[0]);
  if (!collection.ok()) {
    return ErrorResponse(ErrorStyle::kQdrant, EngineHttpStatus(collection.status()),
                         collection.status().message(), SecondsSince(start));
  }
  return Ok(StatsJson((*collection)->Info()), start);
}

// ---- models ----

HttpResponse ApiService::ListModels(RouteContext&) {
  json data = json::array();
  if (models_ != nullptr) {
    for (const auto& model : models_->embedders()) {
      data.push_back({{"id", model.embedder->model_id()},
                      {"object", "model"},
                      {"created", 0},
                      {"owned_by", "quarry"},
                      {"type", "embedding"},
                      {"dimensions", model.embedder->dim()}});
    }
    for (const auto& model : models_->rerankers()) {
      data.push_back({{"id", model.reranker->model_id()},
                      {"object", "model"},
                      {"created", 0},
                      {"owned_by", "quarry"},
                      {"type", "rerank"}});
    }
  }
  return JsonResponse(200, {{"object", "list"}, {"data", data}});
}

namespace {

std::string ModelList(const ModelRegistry* models, bool rerankers) {
  std::string list;
  if (models == nullptr) return list;
  if (rerankers) {
    for (const auto& model : models->rerankers()) {
      list += (list.empty() ? "" : ", ") + model.reranker->model_id();
    }
  } else {
    for (const auto& model : models->embedders()) {
      list += (list.empty() ? "" : ", ") + model.embedder->model_id();
    }
  }
  return list;
}

std::string MissingModel(const ModelRegistry* models, const std::string& wanted, bool rerankers) {
  std::string kind = rerankers ? "reranker" : "embedding model";
  std::string list = ModelList(models, rerankers);
  if (list.empty()) {
    return std::string("no ") + kind + " is loaded (start the server with " +
           (rerankers ? "--reranker DIR" : "--model DIR") + ")";
  }
  return kind + " '" + wanted + "' is not loaded (loaded: " + list + ")";
}

}  // namespace

HttpResponse ApiService::OpenAiEmbeddings(RouteContext& ctx) {
  auto body = ParseJsonObject(ctx.request.body, options_.limits.max_json_depth);
  if (!body.ok()) return ErrorResponse(ErrorStyle::kOpenAi, 400, body.status().message());
  auto request = DecodeEmbeddingsRequest(*body, options_.limits);
  if (!request.ok()) {
    return ErrorResponse(ErrorStyle::kOpenAi, DecodeHttpStatus(request.status()),
                         request.status().message());
  }
  const EmbeddingModel* model = models_ == nullptr ? nullptr : models_->FindEmbedder(request->model);
  if (model == nullptr) {
    return ErrorResponse(ErrorStyle::kOpenAi, 404, MissingModel(models_, request->model, false));
  }
  const size_t dim = model->embedder->dim();
  size_t out_dim = dim;
  if (request->dimensions && static_cast<size_t>(*request->dimensions) != dim) {
    if (!model->allow_dimensions) {
      return ErrorResponse(ErrorStyle::kOpenAi, 400,
                           "model '" + model->embedder->model_id() +
                               "' does not support 'dimensions' (its embeddings have " +
                               std::to_string(dim) + ")");
    }
    if (static_cast<size_t>(*request->dimensions) > dim) {
      return ErrorResponse(ErrorStyle::kOpenAi, 400,
                           "dimensions must be at most " + std::to_string(dim) + " for model '" +
                               model->embedder->model_id() + "'");
    }
    out_dim = static_cast<size_t>(*request->dimensions);
  }
  std::vector<std::string_view> texts(request->texts.begin(), request->texts.end());
  std::vector<std::vector<float>> vectors;
  size_t tokens = 0;
  size_t inputs = texts.size();
  Status status;
  if (!request->token_inputs.empty()) {  // the model's own token ids
    std::vector<std::vector<int32_t>> ids;
    ids.reserve(request->token_inputs.size());
    for (const auto& sequence : request->token_inputs) {
      ids.emplace_back(sequence.begin(), sequence.end());
      tokens += sequence.size();
    }
    inputs = ids.size();
    status = model->embedder->EmbedTokens(ids, &vectors);
  } else {
    status = model->embedder->Embed(texts, embed::TextKind::kDocument, &vectors);
    if (model->count_tokens) {
      for (std::string_view text : texts) tokens += model->count_tokens(text);
    }
  }
  if (!status.ok()) {
    int code = status.code() == StatusCode::kUnsupported ? 400 : EngineHttpStatus(status);
    return ErrorResponse(ErrorStyle::kOpenAi, code, status.message());
  }
  if (vectors.size() != inputs || !AllFinite(vectors)) {
    return ErrorResponse(ErrorStyle::kOpenAi, 500, "the model returned invalid embeddings");
  }
  if (out_dim != dim) {
    for (auto& vector : vectors) {
      vector.resize(out_dim);
      Normalize(&vector);
    }
  }
  std::string out = "{\"object\":\"list\",\"data\":[";
  for (size_t idx = 0; idx < vectors.size(); ++idx) {
    if (idx > 0) out.push_back(',');
    out += "{\"object\":\"embedding\",\"index\":" + std::to_string(idx) + ",\"embedding\":";
    if (request->base64) {
      std::string bytes(vectors[idx].size() * sizeof(float), '\0');
      std::memcpy(bytes.data(), vectors[idx].data(), bytes.size());  // little-endian float32
      out += "\"" + Base64Encode(bytes) + "\"";
    } else {
      AppendFloats(vectors[idx], &out);
    }
    out.push_back('}');
  }
  out += "],\"model\":" + Dump(model->embedder->model_id()) +
         ",\"usage\":{\"prompt_tokens\":" + std::to_string(tokens) +
         ",\"total_tokens\":" + std::to_string(tokens) + "}}";
  HttpResponse response;
  response.body = std::move(out);
  return response;
}

HttpResponse ApiService::OpenAiRerank(RouteContext& ctx) {
  auto body = ParseJsonObject(ctx.request.body, options_.limits.max_json_depth);
  if (!body.ok()) return ErrorResponse(ErrorStyle::kOpenAi, 400, body.status().message());
  auto request = DecodeRerankRequest(*body, options_.limits);
  if (!request.ok()) {
    return ErrorResponse(ErrorStyle::kOpenAi, DecodeHttpStatus(request.status()),
                         request.status().message());
  }
  const RerankModel* model = models_ == nullptr ? nullptr : models_->FindReranker(request->model);
  if (model == nullptr) {
    return ErrorResponse(ErrorStyle::kOpenAi, 404, MissingModel(models_, request->model, true));
  }
  std::vector<std::string_view> passages(request->documents.begin(), request->documents.end());
  std::vector<float> logits;
  std::vector<size_t> order;
  Status status = RankPassages(*model, request->query, passages, &logits, &order);
  if (!status.ok()) {
    return ErrorResponse(ErrorStyle::kOpenAi, EngineHttpStatus(status), status.message());
  }
  size_t keep = request->top_n ? std::min(*request->top_n, order.size()) : order.size();
  json results = json::array();
  for (size_t rank = 0; rank < keep; ++rank) {
    size_t idx = order[rank];
    json item = {{"index", idx}, {"relevance_score", ShortFloat(Sigmoid(logits[idx]))}};
    if (request->return_documents) item["document"] = {{"text", request->documents[idx]}};
    results.push_back(std::move(item));
  }
  size_t tokens = 0;
  if (model->count_tokens) {
    size_t query_tokens = model->count_tokens(request->query);
    for (std::string_view passage : passages) tokens += query_tokens + model->count_tokens(passage);
  }
  return JsonResponse(200, {{"id", RandomId()},
                            {"model", model->reranker->model_id()},
                            {"results", results},
                            {"usage", {{"total_tokens", tokens}}}});
}

HttpResponse ApiService::TeiEmbed(RouteContext& ctx) {
  auto body = ParseJsonObject(ctx.request.body, options_.limits.max_json_depth);
  if (!body.ok()) return ErrorResponse(ErrorStyle::kTei, 400, body.status().message());
  auto request = DecodeTeiEmbedRequest(*body, options_.limits);
  if (!request.ok()) {
    return ErrorResponse(ErrorStyle::kTei, DecodeHttpStatus(request.status()),
                         request.status().message());
  }
  const EmbeddingModel* model = models_ == nullptr ? nullptr : models_->FindEmbedder(request->model);
  if (model == nullptr) {
    return ErrorResponse(ErrorStyle::kTei, 404, MissingModel(models_, request->model, false));
  }
  std::vector<std::string_view> texts(request->inputs.begin(), request->inputs.end());
  std::vector<std::vector<float>> vectors;
  Status status = model->embedder->Embed(texts, embed::TextKind::kDocument, &vectors);
  if (!status.ok()) return ErrorResponse(ErrorStyle::kTei, EngineHttpStatus(status), status.message());
  if (vectors.size() != texts.size() || !AllFinite(vectors)) {
    return ErrorResponse(ErrorStyle::kTei, 500, "the model returned invalid embeddings");
  }
  std::string out = "[";
  for (size_t idx = 0; idx < vectors.size(); ++idx) {
    if (idx > 0) out.push_back(',');
    if (request->normalize) Normalize(&vectors[idx]);
    AppendFloats(vectors[idx], &out);
  }
  out.push_back(']');
  HttpResponse response;
  response.body = std::move(out);
  return response;
}

HttpResponse ApiService::TeiRerank(RouteContext& ctx) {
  auto body = ParseJsonObject(ctx.request.body, options_.limits.max_json_depth);
  if (!body.ok()) return ErrorResponse(ErrorStyle::kTei, 400, body.status().message());
  auto request = DecodeTeiRerankRequest(*body, options_.limits);
  if (!request.ok()) {
    return ErrorResponse(ErrorStyle::kTei, DecodeHttpStatus(request.status()),
                         request.status().message());
  }
  const RerankModel* model = models_ == nullptr ? nullptr : models_->FindReranker(request->model);
  if (model == nullptr) {
    return ErrorResponse(ErrorStyle::kTei, 404, MissingModel(models_, request->model, true));
  }
  std::vector<std::string_view> passages(request->texts.begin(), request->texts.end());
  std::vector<float> logits;
  std::vector<size_t> order;
  Status status = RankPassages(*model, request->query, passages, &logits, &order);
  if (!status.ok()) return ErrorResponse(ErrorStyle::kTei, EngineHttpStatus(status), status.message());
  json results = json::array();
  for (size_t idx : order) {
    float score = request->raw_scores ? logits[idx] : Sigmoid(logits[idx]);
    json item = {{"index", idx}, {"score", ShortFloat(score)}};
    if (request->return_text) item["text"] = request->texts[idx];
    results.push_back(std::move(item));
  }
  return JsonResponse(200, results);
}


// ---- points (Qdrant) ----

Result<json> ApiService::ParseBody(const RouteContext& ctx) {
  return ParseJsonObject(ctx.request.body, options_.limits.max_json_depth);
}

HttpResponse ApiService::WithCollection(RouteContext& ctx,
                                        const std::function<HttpResponse(Collection&)>& fn) {
  auto start = Clock::now();
  std::shared_lock lock(collections_mu_);
  auto collection = OpenCollection(ctx.params[0]);
  if (!collection.ok()) {
    return ErrorResponse(ErrorStyle::kQdrant, EngineHttpStatus(collection.status()),
                         collection.status().message(), SecondsSince(start));
  }
  return fn(**collection);
}

namespace {

HttpResponse DecodeError(const Status& status) {
  return ErrorResponse(ErrorStyle::kQdrant, DecodeHttpStatus(status), status.message());
}

HttpResponse EngineError(const Status& status, Clock::time_point start) {
  return ErrorResponse(ErrorStyle::kQdrant, EngineHttpStatus(status), status.message(),
                       SecondsSince(start));
}

}  // namespace

HttpResponse ApiService::UpsertPoints(RouteContext& ctx) {
  auto start = Clock::now();
  auto body = ParseBody(ctx);
  if (!body.ok()) return DecodeError(body.status());
  return WithCollection(ctx, [&](Collection& collection) {
    auto points = DecodeUpsertPoints(*body, collection.options());
    if (!points.ok()) return DecodeError(points.status());
    auto stats = collection.UpsertPoints(std::move(points).value());
    if (!stats.ok()) return EngineError(stats.status(), start);
    return Ok(UpdateResult(collection.version()), start);
  });
}

HttpResponse ApiService::RetrievePoints(RouteContext& ctx) {
  auto start = Clock::now();
  auto body = ParseBody(ctx);
  if (!body.ok()) return DecodeError(body.status());
  auto decoded = DecodeRetrieve(*body);
  if (!decoded.ok()) return DecodeError(decoded.status());
  return WithCollection(ctx, [&](Collection& collection) {
    auto records = collection.RetrievePoints(decoded->ids, decoded->with_vector.enabled);
    if (!records.ok()) return EngineError(records.status(), start);
    json out = json::array();
    for (const auto& record : *records) {
      if (record.has_value()) {
        out.push_back(PointRecordJson(*record, decoded->with_payload, decoded->with_vector,
                                      collection.options()));
      }
    }
    return Ok(out, start);
  });
}

HttpResponse ApiService::GetPoint(RouteContext& ctx) {
  auto start = Clock::now();
  const std::string& text = ctx.params[1];
  PointId id;
  bool numeric = !text.empty() && text.size() <= 20 &&
                 std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
  if (numeric) {
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id.num);
    numeric = ec == std::errc() && ptr == text.data() + text.size();
  }
  if (!numeric) {
    auto uuid = CanonicalUuid(text);
    if (!uuid.ok()) return DecodeError(uuid.status());
    id.uuid = std::move(uuid).value();
  }
  return WithCollection(ctx, [&](Collection& collection) {
    auto records = collection.RetrievePoints({&id, 1}, true);
    if (!records.ok()) return EngineError(records.status(), start);
    if (!(*records)[0].has_value()) {
      return ErrorResponse(ErrorStyle::kQdrant, 404,
                           "Not found: Point with id " + id.ToString() + " does not exists!",
                           SecondsSince(start));
    }
    return Ok(PointRecordJson(*(*records)[0], PayloadSelector{true, {}, {}},
                              VectorSelector{true, {}}, collection.options()),
              start);
  });
}

HttpResponse ApiService::DeletePoints(RouteContext& ctx) {
  auto start = Clock::now();
  auto body = ParseBody(ctx);
  if (!body.ok()) return DecodeError(body.status());
  auto selector = DecodePointSelector(*body);
  if (!selector.ok()) return DecodeError(selector.status());
  return WithCollection(ctx, [&](Collection& collection) {
    auto deleted = collection.DeletePoints(*selector);
    if (!deleted.ok()) return EngineError(deleted.status(), start);
    return Ok(UpdateResult(collection.version()), start);
  });
}

HttpResponse ApiService::UpdatePayloadRoute(RouteContext& ctx, PayloadOp op) {
  auto start = Clock::now();
  auto body = ParseBody(ctx);
  if (!body.ok()) return DecodeError(body.status());
  auto decoded = DecodePayloadUpdate(*body, op);
  if (!decoded.ok()) return DecodeError(decoded.status());
  return WithCollection(ctx, [&](Collection& collection) {
    auto changed = collection.UpdatePayload(decoded->first, decoded->second);
    if (!changed.ok()) return EngineError(changed.status(), start);
    return Ok(UpdateResult(collection.version()), start);
  });
}

HttpResponse ApiService::SetPayload(RouteContext& ctx) { return UpdatePayloadRoute(ctx, PayloadOp::kSet); }
HttpResponse ApiService::OverwritePayload(RouteContext& ctx) {
  return UpdatePayloadRoute(ctx, PayloadOp::kOverwrite);
}
HttpResponse ApiService::DeletePayloadKeys(RouteContext& ctx) {
  return UpdatePayloadRoute(ctx, PayloadOp::kDeleteKeys);
}
HttpResponse ApiService::ClearPayload(RouteContext& ctx) {
  return UpdatePayloadRoute(ctx, PayloadOp::kClear);
}

HttpResponse ApiService::ScrollPoints(RouteContext& ctx) {
  auto start = Clock::now();
  auto body = ParseBody(ctx);
  if (!body.ok()) return DecodeError(body.status());
  auto decoded = DecodeScroll(*body);
  if (!decoded.ok()) return DecodeError(decoded.status());
  return WithCollection(ctx, [&](Collection& collection) {
    auto page = collection.Scroll(decoded->request);
    if (!page.ok()) return EngineError(page.status(), start);
    json points = json::array();
    VectorSelector vectors{decoded->request.with_vectors, {}};
    for (const auto& record : page->points) {
      points.push_back(PointRecordJson(record, decoded->with_payload, vectors, collection.options()));
    }
    json next = page->next_offset ? PointIdJson(*page->next_offset) : json(nullptr);
    return Ok({{"points", points}, {"next_page_offset", next}}, start);
  });
}

HttpResponse ApiService::CountPoints(RouteContext& ctx) {
  auto start = Clock::now();
  auto body = ctx.request.body.empty() ? Result<json>(json::object()) : ParseBody(ctx);
  if (!body.ok()) return DecodeError(body.status());
  auto filter = DecodeCount(*body);
  if (!filter.ok()) return DecodeError(filter.status());
  return WithCollection(ctx, [&](Collection& collection) {
    auto count = collection.CountPoints(*filter);
    if (!count.ok()) return EngineError(count.status(), start);
    return Ok({{"count", *count}}, start);
  });
}

Result<json> ApiService::RunQueries(const Collection& collection,
                                    const std::vector<QueryBody>& queries, bool wrap_points) {
  search::EmbedderLookup lookup = [this](const std::string& vector_name,
                                         const std::string& model_id) -> Result<embed::Embedder*> {
    const EmbeddingModel* model = nullptr;
    if (models_ != nullptr) {
      model = model_id.empty() ? models_->EmbedderForVector(vector_name)
                               : models_->FindEmbedder(model_id);
    }
    if (model == nullptr) {
      return Status::InvalidArgument(
          model_id.empty() ? "no embedding model is loaded to embed the query for vector '" +
                                 vector_name + "'"
                           : MissingModel(models_, model_id, false));
    }
    return model->embedder.get();
  };
  search::RerankerLookup rerankers = [this](const std::string& model_id) -> Result<embed::Reranker*> {
    const RerankModel* model = models_ == nullptr ? nullptr : models_->FindReranker(model_id);
    if (model == nullptr) {
      return Status::InvalidArgument(model_id.empty()
                                         ? "rerank needs a cross-encoder: start the server with --reranker DIR"
                                         : MissingModel(models_, model_id, true));
    }
    return model->reranker.get();
  };
  json results = json::array();
  for (const QueryBody& query : queries) {
    auto start = Clock::now();
    QUARRY_ASSIGN_OR_RETURN(search::PointQueryResult result,
                            search::RunPointQuery(collection, query.query, lookup, rerankers));
    stage_seconds_->With({"query"}).Observe(SecondsSince(start));
    std::vector<uint64_t> ids;
    ids.reserve(result.points.size());
    for (const auto& point : result.points) ids.push_back(point.id);
    QUARRY_ASSIGN_OR_RETURN(auto records,
                            collection.RetrieveByPointIds(ids, query.with_vector.enabled));
    json points = json::array();
    for (size_t idx = 0; idx < records.size(); ++idx) {
      if (!records[idx].has_value()) continue;  // deleted since the search
      json item = PointRecordJson(*records[idx], query.with_payload, query.with_vector,
                                  collection.options());
      float score = result.points[idx].score;
      if (result.euclid) score = std::sqrt(std::max(0.0f, -score));
      item["version"] = 0;
      item["score"] = ShortFloat(score);
      points.push_back(std::move(item));
    }
    results.push_back(wrap_points ? json{{"points", std::move(points)}} : std::move(points));
  }
  return results;
}

// The four search routes differ only in their decoder and answer shape:
// legacy search answers a bare list, the Query API {"points": [...]}; the
// batch routes answer one entry per search.
HttpResponse ApiService::QueryRoute(RouteContext& ctx, bool legacy_search, bool batch) {
  auto start = Clock::now();
  auto body = ParseBody(ctx);
  if (!body.ok()) return DecodeError(body.status());
  Result<std::vector<QueryBody>> decoded = std::vector<QueryBody>{};
  if (batch) {
    decoded = DecodeBatch(*body, legacy_search);
  } else {
    auto one = legacy_search ? DecodeSearchPoints(*body) : DecodeQuery(*body);
    if (one.ok()) {
      decoded->push_back(std::move(one).value());
    } else {
      decoded = one.status();
    }
  }
  if (!decoded.ok()) return DecodeError(decoded.status());
  return WithCollection(ctx, [&](Collection& collection) {
    auto results = RunQueries(collection, *decoded, /*wrap_points=*/!legacy_search);
    if (!results.ok()) return EngineError(results.status(), start);
    return Ok(batch ? *results : (*results)[0], start);
  });
}

HttpResponse ApiService::SearchPoints(RouteContext& ctx) { return QueryRoute(ctx, true, false); }
HttpResponse ApiService::SearchPointsBatch(RouteContext& ctx) { return QueryRoute(ctx, true, true); }
HttpResponse ApiService::QueryPoints(RouteContext& ctx) { return QueryRoute(ctx, false, false); }
HttpResponse ApiService::QueryPointsBatch(RouteContext& ctx) { return QueryRoute(ctx, false, true); }

}  // namespace quarry::server
