// `quarry`: the command line, a thin shell over include/quarry/ (and eval/).
//
// Exit codes: 0 success, 1 the command failed, 2 bad usage.
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/cache_flags.h"
#include "embed/caching_embedder.h"
#include "embed/embedder.h"
#include "eval/beir.h"
#include "model/linear.h"
#include "quarry/engine.h"
#include "search/hybrid.h"
#include "server/serve.h"
#include "server/wire.h"

namespace quarry::cli {
namespace {

struct GlobalFlags {
  std::string data_dir = "./data";
  std::string collection = "default";
  bool json = false;
  uint64_t map_size_mb = 64 * 1024;
  int progress_ms = -1;  // < 0: 100 ms on a terminal, 2 s otherwise
};

int Fail(const Status& status) {
  std::cerr << "quarry: error: " << status.message() << "\n";
  return 1;
}

// Models and how to search with them (ingest, search, eval, embed).
struct ModelFlags {
  std::string model;     // embedding model folder; empty: BM25 only
  std::string reranker;  // cross-encoder folder
  std::string precision = "fp32";
  std::string vector = "text";        // the collection's dense vector
  std::string quantization = "int8";  // codes of a new dense vector
  std::string mode;                   // hybrid | dense | sparse; default by --model
  std::string rerank = "off";
  size_t rerank_top = 20;  // candidates the cross-encoder rescores (at least the page)
  std::string fusion = "rrf";
  int rrf_k = 0;  // the collection's default, else Qdrant's 2
  std::string weights;  // "0.7,0.3": dense, sparse
  cli::CacheFlags cache;
  bool use_cache = false;  // the command takes the cache flags
};

struct Models {
  std::unique_ptr<cache::LayeredCache> cache;  // null: no cache; outlives the embedder
  std::unique_ptr<embed::Embedder> embedder;   // wrapped in a CachingEmbedder with a cache
  std::unique_ptr<embed::Reranker> reranker;
};

Result<Models> LoadModels(const ModelFlags& f) {
  Models m;
  QUARRY_ASSIGN_OR_RETURN(model::Precision precision, model::ParsePrecision(f.precision));
  embed::LocalModelOptions options;
  options.precision = precision;
  if (f.use_cache) {
    QUARRY_ASSIGN_OR_RETURN(m.cache, cli::OpenCache(f.cache));
  }
  if (!f.model.empty()) {
    QUARRY_ASSIGN_OR_RETURN(m.embedder, embed::OpenLocalEmbedder(f.model, options));
    if (m.cache != nullptr) {
      m.embedder = std::make_unique<embed::CachingEmbedder>(std::move(m.embedder), m.cache.get());
    }
  }
  if (!f.reranker.empty()) {
    QUARRY_ASSIGN_OR_RETURN(m.reranker, embed::OpenLocalReranker(f.reranker, options));
  }
  return m;
}

Result<VectorQuantization> ParseQuantization(const std::string& name) {
  if (name == "none" || name == "float32") return VectorQuantization::kNone;
  if (name == "int8") return VectorQuantization::kInt8;
  if (name == "binary") return VectorQuantization::kBinary;
  return Status::InvalidArgument("unknown quantization '" + name + "' (none, int8, binary)");
}

// A new collection gets one dense vector for the model's embeddings.
Status AddDenseVector(const ModelFlags& f, const embed::Embedder* embedder,
                      CollectionOptions* options) {
  if (embedder == nullptr) return Status::OK();
  QUARRY_ASSIGN_OR_RETURN(VectorQuantization quantization, ParseQuantization(f.quantization));
  DenseVectorConfig dense;
  dense.name = f.vector;
  dense.dim = embedder->dim();
  dense.quantization = quantization;
  options->dense_vectors = {dense};
  return Status::OK();
}

// Checks the collection and the model agree: a model needs the collection's
// dense vector, and a collection with one needs the model for new chunks.
Status CheckModelFits(const CollectionInfo& info, const ModelFlags& f, const embed::Embedder* e) {
  const DenseVectorInfo* field = nullptr;
  for (const auto& d : info.dense_vectors) {
    if (d.config.name == f.vector) field = &d;
  }
  if (e == nullptr) {
    if (!info.dense_vectors.empty()) {
      return Status::InvalidArgument("collection '" + info.name + "' holds dense vector '" +
                                     info.dense_vectors[0].config.name +
                                     "': pass the model that fills it with --model DIR");
    }
    return Status::OK();
  }
  if (field == nullptr) {
    return Status::InvalidArgument(
        "collection '" + info.name + "' has no dense vector '" + f.vector +
        "' (it was created without a model); ingest into a new collection with --model");
  }
  if (field->config.dim != e->dim()) {
    return Status::InvalidArgument("model '" + e->model_id() + "' makes " +
                                   std::to_string(e->dim()) + "-d vectors, but vector '" +
                                   f.vector + "' holds " + std::to_string(field->config.dim));
  }
  return Status::OK();
}

Result<search::TextSearchOptions> SearchOptionsFrom(const ModelFlags& f, bool have_model) {
  search::TextSearchOptions o;
  QUARRY_ASSIGN_OR_RETURN(o.mode, search::ParseMode(f.mode.empty() ? (have_model ? "hybrid" : "sparse")
                                                                    : f.mode));
  QUARRY_ASSIGN_OR_RETURN(o.rerank, search::ParseRerankMode(f.rerank));
  o.rerank_top = f.rerank_top;
  if (f.fusion == "rrf") {
    o.fusion = search::FusionMethod::kRrf;
  } else if (f.fusion == "dbsf") {
    o.fusion = search::FusionMethod::kDbsf;
  } else {
    return Status::InvalidArgument("unknown fusion '" + f.fusion + "' (rrf, dbsf)");
  }
  o.rrf_k = f.rrf_k;
  o.vector_name = f.vector;
  size_t start = 0;
  while (start < f.weights.size()) {
    size_t end = f.weights.find(',', start);
    if (end == std::string::npos) end = f.weights.size();
    const std::string w = f.weights.substr(start, end - start);
    char* stop = nullptr;
    const float v = std::strtof(w.c_str(), &stop);
    if (w.empty() || *stop != '\0' || !std::isfinite(v) || v < 0) {
      return Status::InvalidArgument("--weights: '" + w + "' is not a non-negative number");
    }
    o.weights.push_back(v);
    start = end + 1;
  }
  return o;
}

void AddModelOptions(CLI::App* cmd, ModelFlags* f, bool searching) {
  cmd->add_option("--model", f->model, "embedding model folder (Hugging Face layout)");
  cli::AddCacheFlags(cmd, &f->cache);
  f->use_cache = true;
  cmd->add_option("--precision", f->precision, "model precision: fp32, int8 or bf16")
      ->capture_default_str();
  cmd->add_option("--vector", f->vector, "name of the collection's dense vector")
      ->capture_default_str();
  if (!searching) {
    cmd->add_option("--quantization", f->quantization,
                    "codes of a new dense vector: none (float32), int8, binary")
        ->capture_default_str();
    return;
  }
  cmd->add_option("--reranker", f->reranker, "cross-encoder model folder");
  cmd->add_option("--mode", f->mode, "hybrid, dense or sparse (default: hybrid with --model)");
  cmd->add_option("--rerank", f->rerank, "off, on or auto")->capture_default_str();
  cmd->add_option("--fusion", f->fusion, "rrf or dbsf")->capture_default_str();
  cmd->add_option("--rrf-k", f->rrf_k, "RRF k (default: the collection's, else Qdrant's 2)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--weights", f->weights, "fusion weights, dense first, e.g. 0.7,0.3");
}

// Readers (search, info) fall back to a read-only view while another process
// writes the collection; writers fail with a clear message instead.
Result<std::unique_ptr<Engine>> OpenEngine(const GlobalFlags& flags, bool reader = false) {
  EngineOptions options;
  options.data_dir = flags.data_dir;
  options.map_size = flags.map_size_mb << 20;
  options.read_only_when_busy = reader;
  return Engine::Open(options);
}

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return buf;
}

// Floats as JSON without binary noise (0.9f -> 0.9, not 0.8999999761581421).
double Round6(float value) { return std::round(static_cast<double>(value) * 1e6) / 1e6; }

uint64_t PeakRssBytes() {
  struct rusage usage;
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;
}

// A single-line snippet of `text` around the first query word it contains.
std::string Snippet(const std::string& text, const std::string& query, size_t width = 220) {
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  size_t best = std::string::npos;
  std::string word;
  auto consider = [&] {
    if (word.size() >= 3) best = std::min(best, lower.find(word));
    word.clear();
  };
  for (char c : query) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      consider();
    }
  }
  consider();
  size_t start = (best == std::string::npos || best < 60) ? 0 : best - 60;
  while (start > 0 && start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  std::string out;
  bool space = false;
  for (size_t pos = start; pos < text.size() && out.size() < width; ++pos) {
    char c = text[pos];
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
  if (!out.empty() && (static_cast<unsigned char>(out.back()) & 0x80)) out.pop_back();
  if (start > 0) out = "…" + out;
  if (start + out.size() < text.size()) out += "…";
  return out;
}

void PrintProgress(const IngestProgress& p, bool tty, bool final) {
  double rate_docs = p.elapsed_s > 0 ? p.documents / p.elapsed_s : 0;
  double rate_chunks = p.elapsed_s > 0 ? p.chunks / p.elapsed_s : 0;
  char line[256];
  if (tty) {
    constexpr int kWidth = 28;
    double fraction = p.files_seen ? static_cast<double>(p.files_done) / p.files_seen : 1.0;
    int filled = static_cast<int>(fraction * kWidth);
    std::string bar(filled, '#');
    bar.append(kWidth - filled, '.');
    std::snprintf(line, sizeof(line),
                  "\r[%s] %llu/%llu files  %llu docs  %llu chunks  %.0f docs/s  %.0f chunks/s ",
                  bar.c_str(), (unsigned long long)p.files_done, (unsigned long long)p.files_seen,
                  (unsigned long long)p.documents, (unsigned long long)p.chunks, rate_docs,
                  rate_chunks);
    std::cerr << line << (final ? "\n" : "") << std::flush;
    return;
  }
  std::snprintf(line, sizeof(line),
                "ingest: %llu/%llu files, %llu docs, %llu chunks, %.0f docs/s, %.0f chunks/s, %.1fs",
                (unsigned long long)p.files_done, (unsigned long long)p.files_seen,
                (unsigned long long)p.documents, (unsigned long long)p.chunks, rate_docs,
                rate_chunks, p.elapsed_s);
  std::cerr << line << "\n";
}

int RunIngest(const GlobalFlags& flags, const std::vector<std::string>& paths,
              CollectionOptions create_options, IngestOptions ingest_options,
              const ModelFlags& model_flags) {
  auto models = LoadModels(model_flags);
  if (!models.ok()) return Fail(models.status());
  if (Status dense = AddDenseVector(model_flags, models->embedder.get(), &create_options);
      !dense.ok()) {
    return Fail(dense);
  }
  auto engine = OpenEngine(flags);
  if (!engine.ok()) return Fail(engine.status());
  auto collection = (*engine)->GetOrCreateCollection(flags.collection, create_options);
  if (!collection.ok()) return Fail(collection.status());
  if (Status fits = CheckModelFits((*collection)->Info(), model_flags, models->embedder.get());
      !fits.ok()) {
    return Fail(fits);
  }
  search::EmbedderChunkAdapter adapter(models->embedder.get());
  if (models->embedder != nullptr) {
    ingest_options.embedder = &adapter;
  } else if (!flags.json) {
    std::cerr << "BM25 only (no embedding model): add --model DIR for dense and hybrid search\n";
  }
  bool tty = ::isatty(STDERR_FILENO);
  auto last_print = std::chrono::steady_clock::now() - std::chrono::hours(1);
  auto on_progress = [&](const IngestProgress& progress) {
    auto now = std::chrono::steady_clock::now();
    auto interval = std::chrono::milliseconds(flags.progress_ms >= 0 ? flags.progress_ms
                                              : tty                  ? 100
                                                                     : 2000);
    if (now - last_print < interval) return;
    last_print = now;
    if (!flags.json) PrintProgress(progress, tty, false);
  };
  std::vector<std::filesystem::path> inputs(paths.begin(), paths.end());
  IngestProgress progress;
  Status status = IngestPaths(*collection, inputs, ingest_options, on_progress, &progress);
  auto info = (*collection)->Info();
  double hours = progress.elapsed_s / 3600.0;
  if (flags.json) {
    nlohmann::json out = {
        {"collection", flags.collection},
        {"ok", status.ok()},
        {"files", progress.files_done},
        {"documents", progress.documents},
        {"replaced", progress.replaced},
        {"unchanged", progress.unchanged},
        {"chunks", progress.chunks},
        {"bytes", progress.bytes},
        {"skipped_files", progress.skipped_files},
        {"unsupported_files", progress.unsupported_files},
        {"bad_lines", progress.bad_lines},
        {"errors", progress.first_errors},
        {"elapsed_s", progress.elapsed_s},
        {"documents_per_hour", hours > 0 ? progress.documents / hours : 0},
        {"mb_per_s", progress.elapsed_s > 0 ? progress.bytes / 1e6 / progress.elapsed_s : 0},
        {"peak_rss_bytes", PeakRssBytes()},
        {"collection_documents", info.documents},
        {"collection_chunks", info.chunks}};
    if (auto* cached = dynamic_cast<embed::CachingEmbedder*>(models->embedder.get())) {
      out["embeddings_from_cache"] = cached->served_from_cache();
      out["embeddings_computed"] = cached->computed();
    }
    if (!status.ok()) out["error"] = status.message();
    std::cout << out.dump(2) << "\n";
  } else {
    PrintProgress(progress, tty, true);
    std::cerr << "ingested " << progress.documents << " documents (" << progress.replaced
              << " replaced, " << progress.unchanged << " unchanged) as " << progress.chunks
              << " chunks in " << std::fixed;
    std::cerr.precision(1);
    std::cerr << progress.elapsed_s << "s; collection '" << flags.collection << "' now holds "
              << info.documents << " documents, " << info.chunks << " chunks\n";
    if (auto* cached = dynamic_cast<embed::CachingEmbedder*>(models->embedder.get())) {
      std::cerr << "embeddings: " << cached->computed() << " computed, "
                << cached->served_from_cache() << " from the cache\n";
    }
    if (progress.unsupported_files > 0) {
      std::cerr << "ignored " << progress.unsupported_files << " files of unsupported formats\n";
    }
    if (progress.skipped_files > 0 || progress.bad_lines > 0) {
      std::cerr << "skipped " << progress.skipped_files << " files";
      if (progress.bad_lines > 0) std::cerr << " and " << progress.bad_lines << " bad JSONL lines";
      std::cerr << "; first reasons:\n";
      for (const auto& error : progress.first_errors) std::cerr << "  " << error << "\n";
    }
  }
  if (!status.ok()) return Fail(status);
  bool nothing_loaded = progress.documents + progress.unchanged == 0;
  if (nothing_loaded && (progress.skipped_files > 0 || progress.bad_lines > 0)) {
    std::cerr << "quarry: error: no document could be ingested\n";
    return 1;
  }
  if (nothing_loaded && progress.files_seen == 0) {
    std::cerr << "quarry: error: no supported files found (html, md, txt, jsonl)\n";
    return 1;
  }
  return 0;
}

int RunSearch(const GlobalFlags& flags, const std::string& query, size_t limit, size_t offset,
              const ModelFlags& model_flags, const std::string& filter_json) {
  std::optional<Filter> filter;
  if (!filter_json.empty()) {  // Qdrant's filter JSON, decoded as the server does
    auto parsed = server::ParseJsonObject(filter_json);
    auto decoded = parsed.ok() ? server::DecodeFilter(*parsed, "--filter")
                               : Result<Filter>(parsed.status().WithContext("--filter"));
    if (!decoded.ok()) {
      std::cerr << "quarry: error: " << decoded.status().message() << "\n";
      return 2;
    }
    filter = std::move(decoded).value();
  }
  auto models = LoadModels(model_flags);
  if (!models.ok()) return Fail(models.status());
  auto options = SearchOptionsFrom(model_flags, models->embedder != nullptr);
  if (!options.ok()) return Fail(options.status());
  options->text = query;
  options->limit = limit;
  options->offset = offset;
  options->filter = std::move(filter);
  auto engine = OpenEngine(flags, /*reader=*/true);
  if (!engine.ok()) return Fail(engine.status());
  auto collection = (*engine)->GetCollection(flags.collection);
  if (!collection.ok()) return Fail(collection.status());
  if (models->embedder != nullptr) {
    if (Status fits = CheckModelFits((*collection)->Info(), model_flags, models->embedder.get());
        !fits.ok()) {
      return Fail(fits);
    }
  }
  auto result = search::SearchText(**collection, models->embedder.get(), models->reranker.get(),
                                   *options, models->cache.get());
  if (!result.ok()) return Fail(result.status());
  const SearchResponse* response = &result->response;
  if (flags.json) {
    nlohmann::json hits = nlohmann::json::array();
    for (const auto& hit : response->hits) {
      nlohmann::json item = {{"id", hit.point_id},
                             {"score", hit.score},
                             {"doc_id", hit.chunk.doc_id},
                             {"title", hit.chunk.title},
                             {"section", hit.chunk.section},
                             {"source", hit.chunk.source},
                             {"chunk_index", hit.chunk.chunk_index},
                             {"begin", hit.chunk.begin},
                             {"end", hit.chunk.end},
                             {"text", hit.chunk.text}};
      // Metadata keys join the fixed fields (which win), as in the server's hits.
      auto metadata = nlohmann::json::parse(hit.chunk.metadata.empty() ? "{}" : hit.chunk.metadata,
                                            nullptr, /*allow_exceptions=*/false);
      if (metadata.is_object()) {
        for (auto it = metadata.begin(); it != metadata.end(); ++it) {
          if (!item.contains(it.key())) item[it.key()] = it.value();
        }
      }
      hits.push_back(std::move(item));
    }
    nlohmann::json out = {{"collection", flags.collection},
                          {"query", query},
                          {"mode", model_flags.mode.empty()
                                       ? (models->embedder != nullptr ? "hybrid" : "sparse")
                                       : model_flags.mode},
                          {"reranked", result->reranked},
                          {"rerank_skipped", result->rerank_skipped},
                          {"cached", result->cached},
                          {"terms", response->query_terms},
                          {"took_ms", response->took_ms},
                          {"stages_ms", {{"embed", result->embed_ms},
                                         {"dense", result->dense_ms},
                                         {"sparse", result->sparse_ms},
                                         {"fuse", result->fuse_ms},
                                         {"rerank", result->rerank_ms}}},
                          {"hits", hits}};
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  if (response->hits.empty()) {
    std::cout << "no results for \"" << query << "\"\n";
    return 0;
  }
  size_t rank = offset;
  for (const auto& hit : response->hits) {
    char score[32];
    std::snprintf(score, sizeof(score), "%.3f", hit.score);
    std::cout << ++rank << ". " << hit.chunk.title << "  [" << score << "]\n";
    if (!hit.chunk.section.empty() && hit.chunk.section != hit.chunk.title) {
      std::cout << "   § " << hit.chunk.section << "\n";
    }
    std::cout << "   " << hit.chunk.source << "\n";
    std::cout << "   " << Snippet(hit.chunk.text, query) << "\n\n";
  }
  char took[32];
  std::snprintf(took, sizeof(took), "%.2f", response->took_ms);
  std::cout << response->hits.size() << " results in " << took << " ms\n";
  return 0;
}

int RunEmbed(const ModelFlags& model_flags, const std::vector<std::string>& texts, bool as_query) {
  auto models = LoadModels(model_flags);
  if (!models.ok()) return Fail(models.status());
  std::vector<std::string_view> views(texts.begin(), texts.end());
  std::vector<std::vector<float>> vectors;
  Status st = models->embedder->Embed(
      views, as_query ? embed::TextKind::kQuery : embed::TextKind::kDocument, &vectors);
  if (!st.ok()) return Fail(st);
  nlohmann::json out = {{"model", models->embedder->model_id()},
                        {"dim", models->embedder->dim()},
                        {"embeddings", vectors}};
  std::cout << out.dump() << "\n";
  return 0;
}

int RunInfo(const GlobalFlags& flags, bool collection_given, const cli::CacheFlags& cache_flags) {
  auto engine = OpenEngine(flags, /*reader=*/true);
  if (!engine.ok()) return Fail(engine.status());
  std::vector<std::string> names;
  if (collection_given) {
    names.push_back(flags.collection);
  } else {
    names = (*engine)->ListCollections();
  }
  nlohmann::json collections = nlohmann::json::array();
  for (const auto& name : names) {
    auto collection = (*engine)->GetCollection(name);
    if (!collection.ok()) return Fail(collection.status());
    CollectionInfo info = (*collection)->Info();
    nlohmann::json dense = nlohmann::json::array();
    for (const auto& field : info.dense_vectors) {
      static const char* kMetrics[] = {"cosine", "dot", "l2"};
      static const char* kQuantizations[] = {"none", "int8", "binary"};
      dense.push_back({{"name", field.config.name},
                       {"dim", field.config.dim},
                       {"metric", kMetrics[static_cast<int>(field.config.metric)]},
                       {"quantization", kQuantizations[static_cast<int>(field.config.quantization)]},
                       {"vectors", field.vectors},
                       {"memory_bytes", field.memory_bytes},
                       {"snapshot_seq", field.snapshot_seq}});
    }
    collections.push_back({{"name", info.name},
                           {"documents", info.documents},
                           {"chunks", info.chunks},
                           {"terms", info.terms},
                           {"last_seq", info.last_seq},
                           {"snapshot_seq", info.snapshot_seq},
                           {"disk_bytes", info.disk_bytes},
                           {"index_memory_bytes", info.index_memory_bytes},
                           {"being_written_by_another_process", info.read_only},
                           {"dense_vectors", dense},
                           {"options",
                            {{"chunk_max_tokens", info.options.chunk_max_tokens},
                             {"chunk_overlap_tokens", info.options.chunk_overlap_tokens},
                             {"bm25_k1", Round6(info.options.bm25_k1)},
                             {"bm25_b", Round6(info.options.bm25_b)},
                             {"title_boost", Round6(info.options.title_boost)}}}});
  }
  const nlohmann::json redis = cli::RedisCacheSummary(cache_flags);
  if (flags.json) {
    nlohmann::json out = {{"data_dir", flags.data_dir},
                          {"collections", collections},
                          {"cache", {{"redis", redis}}},
                          {"process_peak_rss_bytes", PeakRssBytes()}};
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << "data directory: " << flags.data_dir << "\n";
  if (collections.empty()) std::cout << "no collections yet: quarry ingest PATH... to create one\n";
  for (const auto& c : collections) {
    std::cout << "collection " << c["name"].get<std::string>() << ": " << c["documents"]
              << " documents, " << c["chunks"] << " chunks, " << c["terms"] << " terms\n"
              << "  disk " << HumanBytes(c["disk_bytes"]) << ", index memory "
              << HumanBytes(c["index_memory_bytes"]) << ", change seq " << c["last_seq"]
              << " (snapshot at " << c["snapshot_seq"] << ")\n"
              << "  chunks of " << c["options"]["chunk_max_tokens"] << " tokens (overlap "
              << c["options"]["chunk_overlap_tokens"] << "), BM25 k1="
              << c["options"]["bm25_k1"].get<double>() << " b=" << c["options"]["bm25_b"].get<double>()
              << " title boost " << c["options"]["title_boost"].get<double>() << "\n";
    for (const auto& d : c["dense_vectors"]) {
      std::cout << "  vector " << d["name"].get<std::string>() << ": " << d["vectors"] << " × "
                << d["dim"] << " " << d["metric"].get<std::string>() << ", codes "
                << d["quantization"].get<std::string>() << ", memory "
                << HumanBytes(d["memory_bytes"]) << "\n";
    }
    if (c["being_written_by_another_process"].get<bool>()) {
      std::cout << "  another quarry process is writing it: counts are as of now\n";
    }
  }
  if (redis["configured"].get<bool>()) {
    std::cout << "shared cache: redis " << redis.value("endpoint", std::string()) << " (prefix \""
              << cache_flags.prefix << "\")";
    if (redis.value("up", false)) {
      std::cout << ": " << redis["entries"]["query_embedding"] << " query embeddings, "
                << redis["entries"]["chunk_embedding"] << " chunk embeddings, "
                << redis["entries"]["search_result"] << " search results";
      if (redis.contains("used_memory_bytes")) {
        std::cout << ", " << HumanBytes(redis["used_memory_bytes"]) << " used";
      }
      if (redis.contains("keyspace_hit_rate")) {
        std::cout << ", keyspace hit rate " << redis["keyspace_hit_rate"].get<double>();
      }
      std::cout << "\n";
    } else {
      std::cout << ": unavailable (" << redis.value("error", std::string("?")) << ")\n";
    }
  }
  std::cout << "process peak RSS: " << HumanBytes(PeakRssBytes()) << "\n";
  return 0;
}

int RunDelete(const GlobalFlags& flags, const std::vector<std::string>& doc_ids,
              const std::string& source_prefix) {
  if (doc_ids.empty() && source_prefix.empty()) {
    std::cerr << "quarry: error: give document ids or --source PREFIX\n";
    return 2;
  }
  auto engine = OpenEngine(flags);
  if (!engine.ok()) return Fail(engine.status());
  auto collection = (*engine)->GetCollection(flags.collection);
  if (!collection.ok()) return Fail(collection.status());
  uint64_t deleted = 0;
  int exit_code = 0;
  for (const auto& doc_id : doc_ids) {
    auto result = (*collection)->DeleteDocument(doc_id);
    if (!result.ok()) {
      std::cerr << "quarry: error: " << result.status().message() << "\n";
      exit_code = 1;
      continue;
    }
    deleted += *result;
  }
  if (!source_prefix.empty()) {
    std::string prefix = source_prefix;
    std::error_code ec;
    auto absolute = std::filesystem::absolute(prefix, ec);
    if (!ec && std::filesystem::exists(absolute, ec)) prefix = absolute.lexically_normal().string();
    auto result = (*collection)->DeleteBySourcePrefix(prefix);
    if (!result.ok()) return Fail(result.status());
    deleted += *result;
  }
  if (flags.json) {
    std::cout << nlohmann::json({{"deleted_documents", deleted}, {"ok", exit_code == 0}}).dump(2) << "\n";
  } else {
    std::cout << "deleted " << deleted << " documents from '" << flags.collection << "'\n";
  }
  return exit_code;
}

int RunEval(GlobalFlags flags, const std::string& beir_dir, bool collection_given, bool reindex,
            CollectionOptions create_options, const ModelFlags& model_flags) {
  auto set = eval::LoadBeir(beir_dir);
  if (!set.ok()) return Fail(set.status());
  auto models = LoadModels(model_flags);
  if (!models.ok()) return Fail(models.status());
  auto search_options = SearchOptionsFrom(model_flags, models->embedder != nullptr);
  if (!search_options.ok()) return Fail(search_options.status());
  if (!collection_given) {
    std::string base = std::filesystem::path(beir_dir).lexically_normal().filename().string();
    if (base.empty()) base = std::filesystem::path(beir_dir).lexically_normal().parent_path().filename().string();
    flags.collection = "beir-" + base;
    // Each model gets its own collection: vectors of one model mean nothing to another.
    if (models->embedder != nullptr) flags.collection += "-" + models->embedder->model_id();
  }
  if (Status dense = AddDenseVector(model_flags, models->embedder.get(), &create_options);
      !dense.ok()) {
    return Fail(dense);
  }
  auto engine = OpenEngine(flags);
  if (!engine.ok()) return Fail(engine.status());
  if (reindex) {
    Status dropped = (*engine)->DropCollection(flags.collection);
    if (!dropped.ok() && !dropped.IsNotFound()) return Fail(dropped);
  }
  auto collection = (*engine)->GetOrCreateCollection(flags.collection, create_options);
  if (!collection.ok()) return Fail(collection.status());
  IngestProgress progress;
  double index_s = 0;
  if ((*collection)->Info().documents == 0) {
    if (!flags.json) std::cerr << "indexing " << set->corpus.string() << " into '" << flags.collection << "'\n";
    search::EmbedderChunkAdapter adapter(models->embedder.get());
    IngestOptions ingest_options;
    if (models->embedder != nullptr) ingest_options.embedder = &adapter;
    Status status = IngestPaths(*collection, {set->corpus}, ingest_options, nullptr, &progress);
    if (!status.ok()) return Fail(status);
    index_s = progress.elapsed_s;
  }
  if (Status fits = CheckModelFits((*collection)->Info(), model_flags, models->embedder.get());
      !fits.ok() && models->embedder != nullptr) {
    return Fail(fits);
  }
  uint64_t reranked = 0, rerank_skipped = 0;
  auto metrics = eval::Evaluate(*set, [&](const std::string& text) -> Result<SearchResponse> {
    search::TextSearchOptions o = *search_options;
    o.text = text;
    o.limit = 300;  // chunks; enough to fill 100 distinct documents
    QUARRY_ASSIGN_OR_RETURN(search::TextSearchResult r,
                            search::SearchText(**collection, models->embedder.get(),
                                               models->reranker.get(), o));
    reranked += r.reranked;
    rerank_skipped += r.rerank_skipped;
    return std::move(r.response);
  });
  if (!metrics.ok()) return Fail(metrics.status());
  auto info = (*collection)->Info();
  if (flags.json) {
    nlohmann::json out = {{"dataset", beir_dir},
                          {"collection", flags.collection},
                          {"mode", model_flags.mode.empty()
                                       ? (models->embedder != nullptr ? "hybrid" : "sparse")
                                       : model_flags.mode},
                          {"model", models->embedder ? models->embedder->model_id() : ""},
                          {"reranker", models->reranker ? models->reranker->model_id() : ""},
                          {"rerank", model_flags.rerank},
                          {"queries_reranked", reranked},
                          {"queries_rerank_skipped", rerank_skipped},
                          {"queries", metrics->queries},
                          {"documents", info.documents},
                          {"chunks", info.chunks},
                          {"ndcg@10", metrics->ndcg_at_10},
                          {"recall@100", metrics->recall_at_100},
                          {"mrr@10", metrics->mrr_at_10},
                          {"p50_ms", metrics->p50_ms},
                          {"p99_ms", metrics->p99_ms},
                          {"mean_ms", metrics->mean_ms},
                          {"index_s", index_s},
                          {"bm25_k1", Round6(info.options.bm25_k1)},
                          {"bm25_b", Round6(info.options.bm25_b)},
                          {"title_boost", Round6(info.options.title_boost)}};
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::printf("%s: %zu queries over %llu documents (%llu chunks)\n", beir_dir.c_str(),
              metrics->queries, (unsigned long long)info.documents, (unsigned long long)info.chunks);
  std::printf("  nDCG@10    %.4f\n  Recall@100 %.4f\n  MRR@10     %.4f\n", metrics->ndcg_at_10,
              metrics->recall_at_100, metrics->mrr_at_10);
  std::printf("  latency    p50 %.3f ms, p99 %.3f ms (top 300 chunks, with payloads)\n",
              metrics->p50_ms, metrics->p99_ms);
  return 0;
}

void AddCollectionOptions(CLI::App* cmd, CollectionOptions* o) {
  cmd->add_option("--chunk-tokens", o->chunk_max_tokens, "chunk budget in word pieces (new collections)")
      ->check(CLI::Range(16, 8192));
  cmd->add_option("--chunk-overlap", o->chunk_overlap_tokens, "overlap between chunks in word pieces")
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--k1", o->bm25_k1, "BM25 k1 (new collections)")->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--b", o->bm25_b, "BM25 b (new collections)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--title-boost", o->title_boost, "weight of title terms (new collections)")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--default-rrf-k", o->rrf_k, "RRF k of hybrid searches that name none (new collections)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--default-weights", o->fusion_weights,
                  "fusion weights (dense sparse) of hybrid searches that name none (new collections)")
      ->expected(2)
      ->delimiter(',')
      ->check(CLI::Range(0.0, 1e6));
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"Quarry: a retrieval engine for documentation search and RAG"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "quarry 0.1.0");
  GlobalFlags flags;
  auto add_common = [&](CLI::App* cmd, bool with_collection) {
    cmd->add_option("--data", flags.data_dir, "data directory")->capture_default_str();
    if (with_collection) {
      cmd->add_option("--collection,-c", flags.collection, "collection name")->capture_default_str();
    }
    cmd->add_flag("--json", flags.json, "machine-readable output");
    cmd->add_option("--map-size-mb", flags.map_size_mb, "LMDB map size per collection, MiB")
        ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 30));
  };

  CollectionOptions create_options;
  IngestOptions ingest_options;
  std::vector<std::string> ingest_paths;
  std::string extensions;
  auto* ingest = app.add_subcommand("ingest", "index files and folders (html, md, txt, jsonl)");
  add_common(ingest, true);
  ingest->add_option("paths", ingest_paths, "files or folders")->required();
  ingest->add_option("--ext", extensions, "only these extensions from folders, e.g. html,md");
  ingest->add_option("--batch", ingest_options.batch_documents, "documents per transaction")
      ->check(CLI::Range(1, 100000));
  ingest->add_option("--progress-ms", flags.progress_ms,
                     "progress line interval (default 100 ms on a terminal, 2000 otherwise)")
      ->check(CLI::Range(0, 3600000));
  AddCollectionOptions(ingest, &create_options);
  ModelFlags model_flags;
  AddModelOptions(ingest, &model_flags, /*searching=*/false);

  std::string query;
  size_t limit = 10;
  size_t offset = 0;
  auto* search = app.add_subcommand("search", "search a collection");
  add_common(search, true);
  search->add_option("query", query, "query text")->required();
  search->add_option("--limit,-n", limit, "number of results")->check(CLI::Range(1, 10000));
  search->add_option("--offset", offset, "skip this many results")->check(CLI::Range(0, 100000));
  std::string search_filter;
  search->add_option("--filter", search_filter,
                     "payload filter as Qdrant filter JSON, e.g. "
                     "'{\"must\": [{\"key\": \"lang\", \"match\": {\"value\": \"en\"}}]}'");
  AddModelOptions(search, &model_flags, /*searching=*/true);
  // Not for eval: it asks for 300 chunks a query, and all of a page is reranked.
  search->add_option("--rerank-top", model_flags.rerank_top,
                     "candidates the cross-encoder rescores (at least offset + limit)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));

  std::vector<std::string> embed_texts;
  bool embed_query = false;
  auto* embed_cmd = app.add_subcommand("embed", "embed texts with a model; prints JSON vectors");
  embed_cmd->add_option("texts", embed_texts, "texts to embed")->required();
  embed_cmd->add_option("--model", model_flags.model, "embedding model folder")->required();
  embed_cmd->add_option("--precision", model_flags.precision, "fp32, int8 or bf16")
      ->capture_default_str();
  embed_cmd->add_flag("--query", embed_query, "embed as queries (query prefix), not documents");

  auto* info = app.add_subcommand("info", "collections, counts, disk and memory, shared cache");
  add_common(info, true);
  cli::CacheFlags info_cache;
  info->add_option("--redis", info_cache.redis_url,
                   "report the shared cache in this Redis (default $QUARRY_REDIS_URL)");
  info->add_option("--cache-prefix", info_cache.prefix, "its key prefix")->capture_default_str();
  if (const char* env = std::getenv("QUARRY_REDIS_URL"); env != nullptr) info_cache.redis_url = env;

  std::vector<std::string> delete_ids;
  std::string delete_source;
  auto* del = app.add_subcommand("delete", "delete documents by id or source prefix");
  add_common(del, true);
  del->add_option("doc_ids", delete_ids, "document ids (for files: the absolute path)");
  del->add_option("--source", delete_source, "delete every document whose source starts with this");

  std::string beir_dir;
  bool reindex = false;
  auto* eval_cmd = app.add_subcommand("eval", "evaluate retrieval quality on a BEIR folder");
  add_common(eval_cmd, true);
  eval_cmd->add_option("--beir", beir_dir, "BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
      ->required();
  eval_cmd->add_flag("--reindex", reindex, "drop and rebuild the evaluation collection");
  AddCollectionOptions(eval_cmd, &create_options);
  AddModelOptions(eval_cmd, &model_flags, /*searching=*/true);
  eval_cmd->add_option("--quantization", model_flags.quantization,
                       "codes of the dense vector: none (float32), int8, binary")
      ->capture_default_str();

  server::ServeConfig serve_config;
  auto* serve = app.add_subcommand("serve", "HTTP server: Qdrant-style collections, documents, embeddings, rerank");
  serve->add_option("--data", serve_config.data_dir, "data directory")->capture_default_str();
  serve->add_option("--map-size-mb", serve_config.map_size_mb, "LMDB map size per collection, MiB")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 30));
  serve->add_option("--host", serve_config.host, "address to bind (loopback unless told otherwise)")
      ->capture_default_str();
  serve->add_option("--port", serve_config.port, "port (0: any free port)")->capture_default_str();
  serve->add_option("--model", serve_config.models,
                    "model folder (repeatable); *ForSequenceClassification folders are rerankers; "
                    "the first embedding model is the default");
  serve->add_option("--reranker", serve_config.rerankers, "cross-encoder model folder (repeatable)");
  serve->add_option("--dimensions-model", serve_config.dimension_models,
                    "model id whose embeddings may be truncated with `dimensions` (repeatable)");
  serve->add_option("--precision", serve_config.precision, "model precision: fp32, int8 or bf16")
      ->capture_default_str();
  serve->add_option("--api-key", serve_config.api_key, "read-write API key");
  serve->add_option("--read-only-api-key", serve_config.read_only_api_key, "read-only API key");
  serve->add_option("--workers", serve_config.workers,
                    "worker threads; requests mostly wait on the shared model batcher (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  serve->add_option("--queue", serve_config.queue, "requests waiting for a worker before 503")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  serve->add_option("--max-body-mb", serve_config.max_body_mb, "largest request body, MiB")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cli::CacheFlags serve_cache;
  cli::AddCacheFlags(serve, &serve_cache);
  serve->add_option("--request-timeout", serve_config.request_timeout_s,
                    "seconds a request may wait and run before a 503")
      ->check(CLI::Range(0.1, 86400.0))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (Status name_ok = Engine::ValidateCollectionName(flags.collection); !name_ok.ok()) {
    std::cerr << "quarry: error: " << name_ok.message() << "\n";
    return 2;
  }
  if (*ingest) {
    size_t start = 0;
    while (start < extensions.size()) {
      size_t end = extensions.find(',', start);
      if (end == std::string::npos) end = extensions.size();
      std::string ext = extensions.substr(start, end - start);
      if (!ext.empty() && ext[0] == '.') ext.erase(0, 1);
      std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
      if (!ext.empty()) ingest_options.extensions.push_back(ext);
      start = end + 1;
    }
    return RunIngest(flags, ingest_paths, create_options, ingest_options, model_flags);
  }
  if (*serve) {
    auto cache_options = cli::CacheOptionsFrom(serve_cache);
    if (!cache_options.ok()) return Fail(cache_options.status());
    serve_config.cache = *cache_options;
    bool any_kind = false;
    for (const auto& kind : serve_config.cache.kinds) any_kind = any_kind || kind.enabled;
    if (!any_kind) {
      serve_config.cache.memory_bytes = 0;
      serve_config.cache.redis_url.clear();
    } else if (serve_config.cache.memory_bytes == 0 && !serve_config.cache.redis_url.empty()) {
      serve_config.cache.memory_bytes = 1 << 20;  // Redis only: a token memory layer
    }
    return server::Serve(serve_config);
  }
  if (*search) return RunSearch(flags, query, limit, offset, model_flags, search_filter);
  if (*embed_cmd) return RunEmbed(model_flags, embed_texts, embed_query);
  if (*info) return RunInfo(flags, info->count("--collection") > 0, info_cache);
  if (*del) return RunDelete(flags, delete_ids, delete_source);
  if (*eval_cmd) {
    return RunEval(flags, beir_dir, eval_cmd->count("--collection") > 0, reindex, create_options,
                   model_flags);
  }
  return 2;
}

}  // namespace quarry::cli

int main(int argc, char** argv) {
  try {
    return quarry::cli::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "quarry: internal error: " << e.what() << "\n";
    return 1;
  }
}
