// ApiService: the HTTP routes of `quarry serve` over an Engine and a set of
// models. It converts wire JSON to engine and model calls and back, and
// nothing more (DESIGN.md habit 7).
//
// Routes (docs/API.md lists them with examples):
//   GET / /healthz /livez /readyz /metrics
//   Qdrant-compatible collections: GET /collections, GET|PUT|DELETE
//     /collections/{name}, GET /collections/{name}/exists
//   Quarry documents: POST /collections/{name}/documents,
//     GET|DELETE /collections/{name}/documents/{id}, POST /collections/{name}/search,
//     GET /collections/{name}/stats; Qdrant payload indexes: PUT
//     /collections/{name}/index, DELETE /collections/{name}/index/{field}
//   Models: GET /v1/models, POST /v1/embeddings (OpenAI), POST /v1/rerank
//     (Cohere/Jina), POST /embed and POST /rerank (TEI)
//
// Errors use the shape of the API a route imitates: Qdrant's
// {"status":{"error":...},"time":...}, OpenAI's {"error":{"message",...}}
// under /v1/, TEI's {"error":...,"error_type":...} for /embed and /rerank.
//
// API keys (Qdrant's scheme): with keys configured, every route but / and the
// health probes needs the `api-key` header or `Authorization: Bearer KEY`;
// the read-only key may call read routes only (403 otherwise). Keys are
// compared in constant time.
//
// Thread-safety: Handle() is called from many worker threads at once;
// OnAccess() and MakeError() from the server's event loop.
#ifndef QUARRY_SERVER_API_H_
#define QUARRY_SERVER_API_H_

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "cache/cache.h"
#include "embed/embedder.h"
#include "quarry/engine.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/router.h"
#include "server/points_wire.h"
#include "server/wire.h"

namespace quarry::server {

struct EmbeddingModel {
  std::unique_ptr<embed::Embedder> embedder;
  // `dimensions` below the model's size truncates and renormalises
  // (Matryoshka models). Off unless configured.
  bool allow_dimensions = false;
  // Tokens an input costs (usage); null: usage reports 0.
  std::function<size_t(std::string_view text)> count_tokens;
};

struct RerankModel {
  std::unique_ptr<embed::Reranker> reranker;
  std::function<size_t(std::string_view text)> count_tokens;
};

// The models a server holds, by id. The first embedding model (and the first
// reranker) is the default for requests that name none.
class ModelRegistry {
 public:
  Status AddEmbedder(EmbeddingModel model);
  Status AddReranker(RerankModel model);
  // Empty id: the default. Null when there is none.
  const EmbeddingModel* FindEmbedder(std::string_view id) const;
  const RerankModel* FindReranker(std::string_view id) const;
  // The model for a collection's named vector: one whose id equals the
  // vector's name, else the default.
  const EmbeddingModel* EmbedderForVector(std::string_view vector_name) const;
  const std::vector<EmbeddingModel>& embedders() const { return embedders_; }
  const std::vector<RerankModel>& rerankers() const { return rerankers_; }

 private:
  bool Taken(std::string_view id) const;
  std::vector<EmbeddingModel> embedders_;
  std::vector<RerankModel> rerankers_;
};

struct ApiOptions {
  std::string api_key;            // read-write; empty: none
  std::string read_only_api_key;  // empty: none
  DecodeLimits limits;
  bool access_log = true;  // one JSON line per request to stderr (off with QUARRY_LOG=quiet)
  // Search results are cached here (and the models' embeddings, when they are
  // wrapped in embed::CachingEmbedder); its statistics go to /metrics. Not
  // owned; null: no cache.
  cache::LayeredCache* cache = nullptr;
};

class ApiService {
 public:
  // `engine` and `models` must outlive the service.
  ApiService(Engine* engine, const ModelRegistry* models, ApiOptions options);

  HttpResponse Handle(HttpRequest& request);

  // The server's own answers (parse errors, overload, timeouts) in the error
  // shape of the route family of `request` (Qdrant's when null).
  HttpResponse MakeError(const HttpRequest* request, int status, const std::string& message) const;
  // Access log line and request metrics.
  void OnAccess(const AccessRecord& record);
  // Sets on_access and make_error of `options` to this service.
  void Configure(ServerOptions* options);
  // Connection and queue gauges come from this server; may be null.
  void AttachServer(const HttpServer* server) { server_.store(server); }
  // /readyz answers 503 while not ready.
  void SetReady(bool ready) { ready_.store(ready); }

  MetricsRegistry& metrics() { return metrics_; }
  const Router& router() const { return router_; }

 private:
  void AddRoutes();
  void AddMetrics();
  void AddCacheMetrics();

  HttpResponse Root(RouteContext& ctx);
  HttpResponse Metrics(RouteContext& ctx);
  HttpResponse ListCollections(RouteContext& ctx);
  HttpResponse GetCollection(RouteContext& ctx);
  HttpResponse CollectionExists(RouteContext& ctx);
  HttpResponse CreateCollection(RouteContext& ctx);
  HttpResponse DeleteCollection(RouteContext& ctx);
  HttpResponse UpsertDocuments(RouteContext& ctx);
  HttpResponse GetDocument(RouteContext& ctx);
  HttpResponse DeleteDocument(RouteContext& ctx);
  HttpResponse Search(RouteContext& ctx);
  HttpResponse CreatePayloadIndex(RouteContext& ctx);
  HttpResponse DeletePayloadIndex(RouteContext& ctx);
  HttpResponse CollectionStats(RouteContext& ctx);
  HttpResponse ListModels(RouteContext& ctx);
  HttpResponse OpenAiEmbeddings(RouteContext& ctx);
  HttpResponse OpenAiRerank(RouteContext& ctx);
  HttpResponse TeiEmbed(RouteContext& ctx);
  HttpResponse TeiRerank(RouteContext& ctx);

  // Qdrant points routes.
  HttpResponse UpsertPoints(RouteContext& ctx);
  HttpResponse RetrievePoints(RouteContext& ctx);
  HttpResponse GetPoint(RouteContext& ctx);
  HttpResponse DeletePoints(RouteContext& ctx);
  HttpResponse SetPayload(RouteContext& ctx);
  HttpResponse OverwritePayload(RouteContext& ctx);
  HttpResponse DeletePayloadKeys(RouteContext& ctx);
  HttpResponse ClearPayload(RouteContext& ctx);
  HttpResponse ScrollPoints(RouteContext& ctx);
  HttpResponse CountPoints(RouteContext& ctx);
  HttpResponse SearchPoints(RouteContext& ctx);
  HttpResponse SearchPointsBatch(RouteContext& ctx);
  HttpResponse QueryPoints(RouteContext& ctx);
  HttpResponse QueryPointsBatch(RouteContext& ctx);
  HttpResponse UpdatePayloadRoute(RouteContext& ctx, PayloadOp op);
  HttpResponse QueryRoute(RouteContext& ctx, bool legacy_search, bool batch);
  // Runs `fn` on the route's collection (params[0]) with collections_mu_
  // held; answers 404 and friends when it cannot be opened.
  HttpResponse WithCollection(RouteContext& ctx,
                              const std::function<HttpResponse(Collection&)>& fn);
  // Decodes the JSON body; the Qdrant error answer when it is not valid.
  Result<nlohmann::json> ParseBody(const RouteContext& ctx);
  // Runs Query API requests and renders their points.
  Result<nlohmann::json> RunQueries(const Collection& collection, const std::vector<QueryBody>& queries,
                                    bool wrap_points);

  // REQUIRES: collections_mu_ held (shared or exclusive) while the pointer is used.
  Result<Collection*> OpenCollection(const std::string& name);

  Engine* engine_;
  const ModelRegistry* models_;
  ApiOptions options_;
  Router router_;
  MetricsRegistry metrics_;
  Family<Counter>* requests_total_ = nullptr;
  Family<Histogram>* request_seconds_ = nullptr;
  Family<Histogram>* stage_seconds_ = nullptr;  // search stages: embed, dense, sparse, fuse, rerank
  Family<Counter>* searches_total_ = nullptr;   // by outcome: computed, cached
  std::atomic<const HttpServer*> server_{nullptr};
  std::atomic<bool> ready_{true};
  // Shared by every use of a Collection*, exclusive to create or drop one
  // (Engine::DropCollection destroys the Collection).
  std::shared_mutex collections_mu_;
};

}  // namespace quarry::server

#endif  // QUARRY_SERVER_API_H_
