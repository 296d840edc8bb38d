#include "server/serve.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "embed/caching_embedder.h"
#include "embed/embedder.h"
#include "model/linear.h"
#include "model/model_config.h"
#include "model/tokenizer.h"
#include "quarry/engine.h"
#include "server/api.h"
#include "server/http_server.h"

namespace quarry::server {
namespace {

int Fail(const std::string& message) {
  std::cerr << "quarry: error: " << message << "\n";
  return 1;
}

// A cross-encoder declares a *ForSequenceClassification architecture.
Result<bool> IsReranker(const std::filesystem::path& dir) {
  std::ifstream in(dir / "config.json");
  if (!in) return Status::NotFound(dir.string() + ": no config.json (not a model folder)");
  auto config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return Status::InvalidArgument((dir / "config.json").string() + ": not a JSON object");
  }
  auto architectures = config.find("architectures");
  if (architectures == config.end() || !architectures->is_array()) return false;
  for (const auto& name : *architectures) {
    if (name.is_string() && name.get<std::string>().ends_with("ForSequenceClassification")) {
      return true;
    }
  }
  return false;
}

// Counts tokens the way the model sees them (special tokens included,
// truncated to its input limit), for `usage` in responses.
Result<std::function<size_t(std::string_view)>> TokenCounter(const std::filesystem::path& dir) {
  QUARRY_ASSIGN_OR_RETURN(auto config, model::LoadModelConfig(dir));
  QUARRY_ASSIGN_OR_RETURN(auto tokenizer, model::Tokenizer::Load(dir));
  std::shared_ptr<model::Tokenizer> shared(std::move(tokenizer));
  size_t max_tokens = static_cast<size_t>(std::max(config.max_seq_length, 4));
  return std::function<size_t(std::string_view)>([shared, max_tokens](std::string_view text) {
    return shared->Encode(text, max_tokens).ids.size();
  });
}

Status LoadModels(const ServeConfig& config, cache::LayeredCache* cache, ModelRegistry* models) {
  QUARRY_ASSIGN_OR_RETURN(model::Precision precision, model::ParsePrecision(config.precision));
  if (!model::PrecisionSupported(precision)) {
    LogWarning("precision " + config.precision + " is not native on this CPU; it will be slow");
  }
  embed::LocalModelOptions options;
  options.precision = precision;
  std::vector<std::pair<std::string, bool>> dirs;  // (folder, forced reranker)
  for (const auto& dir : config.models) dirs.emplace_back(dir, false);
  for (const auto& dir : config.rerankers) dirs.emplace_back(dir, true);
  for (const auto& [dir, forced] : dirs) {
    bool reranker = forced;
    if (!reranker) {
      QUARRY_ASSIGN_OR_RETURN(reranker, IsReranker(dir));
    }
    QUARRY_ASSIGN_OR_RETURN(auto count_tokens, TokenCounter(dir));
    if (reranker) {
      auto loaded = embed::OpenLocalReranker(dir, options);
      if (!loaded.ok()) return loaded.status().WithContext(dir);
      RerankModel model{std::move(loaded).value(), count_tokens};
      std::string id = model.reranker->model_id();
      QUARRY_RETURN_IF_ERROR(models->AddReranker(std::move(model)));
      LogInfo("loaded reranker '" + id + "' from " + dir);
    } else {
      auto loaded = embed::OpenLocalEmbedder(dir, options);
      if (!loaded.ok()) return loaded.status().WithContext(dir);
      std::unique_ptr<embed::Embedder> embedder = std::move(loaded).value();
      if (cache != nullptr) {
        embedder = std::make_unique<embed::CachingEmbedder>(std::move(embedder), cache);
      }
      EmbeddingModel model{std::move(embedder), false, count_tokens};
      std::string id = model.embedder->model_id();
      model.allow_dimensions = std::find(config.dimension_models.begin(),
                                         config.dimension_models.end(),
                                         id) != config.dimension_models.end();
      size_t dim = model.embedder->dim();
      QUARRY_RETURN_IF_ERROR(models->AddEmbedder(std::move(model)));
      LogInfo("loaded embedding model '" + id + "' (" + std::to_string(dim) + " dimensions) from " +
              dir);
    }
  }
  for (const auto& id : config.dimension_models) {
    if (models->FindEmbedder(id) == nullptr) {
      return Status::InvalidArgument("--dimensions-model " + id + ": no embedding model has that id");
    }
  }
  return Status::OK();
}

}  // namespace

int Serve(const ServeConfig& config) {
  // Signals are taken by sigwait below; every thread started from here on
  // inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  EngineOptions engine_options;
  engine_options.data_dir = config.data_dir;
  engine_options.map_size = config.map_size_mb << 20;
  auto engine = Engine::Open(engine_options);
  if (!engine.ok()) return Fail(engine.status().message());

  std::unique_ptr<cache::LayeredCache> cache;
  if (config.cache.memory_bytes > 0 || !config.cache.redis_url.empty()) {
    auto opened = cache::LayeredCache::Open(config.cache);
    if (!opened.ok()) return Fail("cache: " + opened.status().message());
    cache = std::move(opened).value();
  }
  ModelRegistry models;
  Status loaded = LoadModels(config, cache.get(), &models);
  if (!loaded.ok()) return Fail(loaded.message());

  ApiOptions api_options;
  api_options.cache = cache.get();
  api_options.api_key = config.api_key;
  api_options.read_only_api_key = config.read_only_api_key;
  ApiService service(engine->get(), &models, api_options);

  ServerOptions server_options;
  server_options.host = config.host;
  server_options.port = config.port;
  server_options.workers = config.workers;
  server_options.queue_capacity = config.queue;
  server_options.limits.max_body_bytes = config.max_body_mb << 20;
  server_options.request_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(config.request_timeout_s * 1000));
  service.Configure(&server_options);
  auto server = HttpServer::Start(server_options, [&service](HttpRequest& request) {
    return service.Handle(request);
  });
  if (!server.ok()) return Fail(server.status().message());
  service.AttachServer(server->get());
  std::cout << "quarry: listening on http://" << (*server)->address() << std::endl;
  if (config.api_key.empty() && config.read_only_api_key.empty() && config.host != "127.0.0.1" &&
      config.host != "localhost" && config.host != "::1") {
    LogWarning("listening beyond loopback without an API key (--api-key)");
  }

  int signal_number = 0;
  while (sigwait(&signals, &signal_number) != 0) {
  }
  LogInfo(std::string("received ") + (signal_number == SIGINT ? "SIGINT" : "SIGTERM") +
          ": finishing in-flight requests");
  service.SetReady(false);
  (*server)->Stop();
  service.AttachServer(nullptr);
  server->reset();
  engine->reset();  // closes collections; their index snapshots are flushed
  LogInfo("stopped");
  return 0;
}

}  // namespace quarry::server
