#include "search/hybrid.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "collection/filter.h"
#include "common/hash.h"

namespace quarry::search {
namespace {

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<Scored> ToScored(const SearchResponse& r) {
  std::vector<Scored> out;
  out.reserve(r.hits.size());
  for (const SearchHit& h : r.hits) out.push_back({h.point_id, h.score});
  return out;
}

bool OutlierWinner(const std::vector<Scored>& list) {
  if (list.size() < 2) return true;  // nothing to reorder
  const size_t n = std::min<size_t>(20, list.size());
  double mean = 0;
  for (size_t i = 0; i < n; ++i) mean += list[i].score;
  mean /= static_cast<double>(n);
  double var = 0;
  for (size_t i = 0; i < n; ++i) var += (list[i].score - mean) * (list[i].score - mean);
  const double sd = n > 1 ? std::sqrt(var / static_cast<double>(n - 1)) : 0.0;
  return sd > 0 && list[0].score - list[1].score > 3.0 * sd;
}

}  // namespace

Result<Mode> ParseMode(std::string_view name) {
  if (name == "hybrid") return Mode::kHybrid;
  if (name == "dense") return Mode::kDense;
  if (name == "sparse") return Mode::kSparse;
  return Status::InvalidArgument("unknown search mode '" + std::string(name) +
                                 "' (hybrid, dense, sparse)");
}

Result<RerankMode> ParseRerankMode(std::string_view name) {
  if (name == "off") return RerankMode::kOff;
  if (name == "on") return RerankMode::kOn;
  if (name == "auto") return RerankMode::kAuto;
  return Status::InvalidArgument("unknown rerank mode '" + std::string(name) + "' (off, on, auto)");
}

bool RerankCanChangePage(Mode mode, const std::vector<Scored>& dense,
                         const std::vector<Scored>& sparse, size_t limit) {
  switch (mode) {
    case Mode::kDense: return !OutlierWinner(dense);
    case Mode::kSparse: return !OutlierWinner(sparse);
    case Mode::kHybrid: {
      const size_t n = std::min<size_t>(3, limit);
      if (dense.size() < n || sparse.size() < n) return true;
      for (size_t i = 0; i < n; ++i) {
        if (dense[i].id != sparse[i].id) return true;
      }
      return false;
    }
  }
  return true;
}

Status EmbedderChunkAdapter::Embed(const std::vector<const Chunk*>& chunks,
                                   const DenseVectorConfig& config,
                                   std::vector<std::vector<float>>* vectors) {
  if (embedder_->dim() != config.dim) {
    return Status::InvalidArgument("model '" + embedder_->model_id() + "' makes " +
                                   std::to_string(embedder_->dim()) + "-d vectors, vector '" +
                                   config.name + "' holds " + std::to_string(config.dim));
  }
  std::vector<std::string> texts;
  texts.reserve(chunks.size());
  for (const Chunk* c : chunks) {
    // The title gives the chunk its context, as it does for BM25.
    texts.push_back(c->title.empty() || c->text.starts_with(c->title) ? c->text
                                                                      : c->title + "\n" + c->text);
  }
  std::vector<std::string_view> views(texts.begin(), texts.end());
  return embedder_->Embed(views, embed::TextKind::kDocument, vectors);
}

namespace {

Result<TextSearchResult> SearchTextUncached(const Collection& collection,
                                            embed::Embedder* embedder, embed::Reranker* reranker,
                                            const TextSearchOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  if (o.limit == 0) return Status::InvalidArgument("limit must be at least 1");
  if (o.limit > 10000 || o.offset > 100000) {
    return Status::InvalidArgument("limit must be at most 10000 and offset at most 100000");
  }
  if (o.text.empty()) return Status::InvalidArgument("empty query");
  const bool want_dense = o.mode != Mode::kSparse;
  const bool want_sparse = o.mode != Mode::kDense;
  const bool want_rerank = o.rerank != RerankMode::kOff;
  if (want_dense && embedder == nullptr) {
    return Status::InvalidArgument(
        "dense and hybrid search need an embedding model (--model DIR); use --mode sparse for "
        "BM25 only");
  }
  if (want_rerank && reranker == nullptr) {
    return Status::InvalidArgument("reranking needs a cross-encoder (--reranker DIR)");
  }
  std::string vector_name = o.vector_name;
  if (want_dense && vector_name.empty()) {
    // The configuration, not Info(): that one gathers statistics and disk sizes.
    const auto& fields = collection.options().dense_vectors;
    if (fields.size() != 1) {
      return Status::InvalidArgument(
          fields.empty()
              ? "collection '" + collection.name() + "' has no dense vector; ingest with --model"
              : "collection '" + collection.name() + "' has several dense vectors: name one");
    }
    vector_name = fields[0].name;
  }
  const size_t page = o.offset + o.limit;
  const size_t rerank_depth = want_rerank ? std::max(o.rerank_top, page) : 0;
  const size_t prefetch =
      std::max({o.prefetch_limit != 0 ? o.prefetch_limit : std::max<size_t>(50, 2 * page),
                page, rerank_depth});
  TextSearchResult result;

  std::vector<Scored> dense, sparse;
  if (want_dense) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::vector<float>> q;
    std::string_view text = o.text;
    QUARRY_RETURN_IF_ERROR(embedder->Embed({&text, 1}, embed::TextKind::kQuery, &q));
    result.embed_ms = MsSince(t0);
    t0 = std::chrono::steady_clock::now();
    SearchRequest req;
    req.vector = VectorQuery{vector_name, std::move(q[0])};
    req.limit = prefetch;
    req.with_text = false;
    req.hnsw_ef = o.hnsw_ef;
    req.exact = o.exact;
    req.oversampling = o.oversampling;
    req.filter = o.filter;
    QUARRY_ASSIGN_OR_RETURN(SearchResponse r, collection.Search(req));
    dense = ToScored(r);
    result.dense_ms = MsSince(t0);
  }
  if (want_sparse) {
    auto t0 = std::chrono::steady_clock::now();
    SearchRequest req;
    req.text = o.text;
    req.limit = prefetch;
    req.with_text = false;
    req.filter = o.filter;
    QUARRY_ASSIGN_OR_RETURN(SearchResponse r, collection.Search(req));
    sparse = ToScored(r);
    result.response.query_terms = std::move(r.query_terms);
    result.sparse_ms = MsSince(t0);
  }

  auto t0 = std::chrono::steady_clock::now();
  std::vector<Scored> ranked;
  if (o.mode == Mode::kDense) {
    ranked = dense;
  } else if (o.mode == Mode::kSparse) {
    ranked = sparse;
  } else {
    const std::vector<Scored> lists[] = {dense, sparse};
    const CollectionOptions& defaults = collection.options();
    const int k = o.rrf_k > 0 ? o.rrf_k : defaults.rrf_k > 0 ? defaults.rrf_k : kDefaultRrfK;
    const std::vector<float>& weights = o.weights.empty() ? defaults.fusion_weights : o.weights;
    if (o.fusion == FusionMethod::kRrf) {
      QUARRY_ASSIGN_OR_RETURN(ranked, FuseRrf(lists, k, weights));
    } else {
      QUARRY_ASSIGN_OR_RETURN(ranked, FuseDbsf(lists, weights));
    }
  }
  result.fuse_ms = MsSince(t0);

  // Reranking: the first rerank_depth candidates by the cross-encoder.
  const bool rerank_now =
      want_rerank && (o.rerank == RerankMode::kOn ||
                      RerankCanChangePage(o.mode, dense, sparse, o.limit));
  result.rerank_skipped = want_rerank && !rerank_now;
  if (ranked.size() > std::max(page, rerank_now ? rerank_depth : 0)) {
    ranked.resize(std::max(page, rerank_now ? rerank_depth : 0));
  }
  std::vector<uint64_t> ids;
  for (const Scored& s : ranked) ids.push_back(s.id);
  const bool need_chunks = o.with_text || rerank_now;
  std::vector<std::optional<Chunk>> chunks;
  if (need_chunks) {
    QUARRY_ASSIGN_OR_RETURN(chunks, collection.GetPoints(ids));
  }
  if (rerank_now && !ranked.empty()) {
    t0 = std::chrono::steady_clock::now();
    std::vector<size_t> present;
    std::vector<std::string_view> passages;
    for (size_t i = 0; i < ranked.size(); ++i) {
      if (chunks[i].has_value()) {
        present.push_back(i);
        passages.push_back(chunks[i]->text);
      }
    }
    std::vector<float> scores;
    QUARRY_RETURN_IF_ERROR(reranker->Score(o.text, passages, &scores));
    std::vector<size_t> order(present.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return scores[a] > scores[b]; });
    std::vector<Scored> reranked;
    std::vector<std::optional<Chunk>> reranked_chunks;
    for (size_t i : order) {
      reranked.push_back({ranked[present[i]].id, scores[i]});
      reranked_chunks.push_back(std::move(chunks[present[i]]));
    }
    ranked = std::move(reranked);
    chunks = std::move(reranked_chunks);
    result.reranked = true;
    result.rerank_ms = MsSince(t0);
  }
  for (size_t i = o.offset; i < ranked.size() && result.response.hits.size() < o.limit; ++i) {
    SearchHit hit;
    hit.point_id = ranked[i].id;
    hit.score = ranked[i].score;
    if (need_chunks) {
      if (!chunks[i].has_value()) continue;  // deleted meanwhile
      if (o.with_text) hit.chunk = std::move(*chunks[i]);
    }
    result.response.hits.push_back(std::move(hit));
  }
  result.response.took_ms = MsSince(start);
  return result;
}

constexpr char kResultMagic[4] = {'Q', 'S', 'R', '1'};

void PutU32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), 4); }

}  // namespace

std::string ResultCacheKey(const Collection& collection, uint64_t version,
                           const embed::Embedder* embedder, const embed::Reranker* reranker,
                           const TextSearchOptions& o) {
  // Every field separated and tagged, so no two option sets serialize alike.
  std::string parts;
  auto add = [&parts](std::string_view tag, std::string_view value) {
    parts.append(tag).append("=").append(std::to_string(value.size())).append(":").append(value);
    parts.push_back(';');
  };
  auto num = [](auto v) { return std::to_string(v); };
  add("mode", num(static_cast<int>(o.mode)));
  add("limit", num(o.limit));
  add("offset", num(o.offset));
  if (o.mode != Mode::kSparse && embedder != nullptr) {
    add("vector", o.vector_name);
    add("model", embedder->fingerprint());
    add("q", embedder->InputKey(o.text, embed::TextKind::kQuery));
    add("ef", num(o.hnsw_ef));
    add("exact", num(o.exact));
    char over[32];
    std::snprintf(over, sizeof(over), "%a", static_cast<double>(o.oversampling));
    add("over", over);
  }
  if (o.mode != Mode::kDense) {
    std::vector<std::string> terms = collection.QueryTerms(o.text);
    std::sort(terms.begin(), terms.end());  // BM25 sums over the bag of terms
    std::string joined;
    for (const auto& t : terms) joined.append(t).push_back('\x1f');
    add("terms", joined);
  }
  if (o.mode == Mode::kHybrid) {
    add("fusion", num(static_cast<int>(o.fusion)));
    add("rrf_k", num(o.rrf_k));
    std::string weights;
    for (float w : o.weights) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%a,", static_cast<double>(w));
      weights += buf;
    }
    add("weights", weights);
  }
  if (o.filter.has_value() && !o.filter->empty()) add("filter", CanonicalFilterKey(*o.filter));
  add("prefetch", num(o.prefetch_limit));
  add("rerank", num(static_cast<int>(o.rerank)));
  if (o.rerank != RerankMode::kOff && reranker != nullptr) {
    add("rerank_top", num(o.rerank_top));
    add("reranker", reranker->fingerprint());
    add("rq", reranker->QueryKey(o.text));
  }
  return collection.name() + ":" + collection.uid() + ":" + std::to_string(version) + ":" +
         HashHex128(parts);
}

std::string EncodeCachedResult(const TextSearchResult& r) {
  std::string out(kResultMagic, 4);
  out.push_back(static_cast<char>((r.reranked ? 1 : 0) | (r.rerank_skipped ? 2 : 0)));
  PutU32(&out, static_cast<uint32_t>(r.response.hits.size()));
  for (const SearchHit& hit : r.response.hits) {
    out.append(reinterpret_cast<const char*>(&hit.point_id), 8);
    out.append(reinterpret_cast<const char*>(&hit.score), 4);
  }
  PutU32(&out, static_cast<uint32_t>(r.response.query_terms.size()));
  for (const std::string& term : r.response.query_terms) {
    PutU32(&out, static_cast<uint32_t>(term.size()));
    out += term;
  }
  return out;
}

bool DecodeCachedResult(std::string_view in, TextSearchResult* r) {
  auto take = [&in](void* dst, size_t n) {
    if (in.size() < n) return false;
    std::memcpy(dst, in.data(), n);
    in.remove_prefix(n);
    return true;
  };
  char magic[4];
  uint8_t flags = 0;
  uint32_t hits = 0;
  if (!take(magic, 4) || std::memcmp(magic, kResultMagic, 4) != 0 || !take(&flags, 1) ||
      flags > 3 || !take(&hits, 4) || hits > in.size() / 12) {
    return false;
  }
  *r = TextSearchResult{};
  r->reranked = (flags & 1) != 0;
  r->rerank_skipped = (flags & 2) != 0;
  r->response.hits.resize(hits);
  for (SearchHit& hit : r->response.hits) {
    if (!take(&hit.point_id, 8) || !take(&hit.score, 4)) return false;
  }
  uint32_t terms = 0;
  if (!take(&terms, 4) || terms > in.size() / 4) return false;
  r->response.query_terms.resize(terms);
  for (std::string& term : r->response.query_terms) {
    uint32_t size = 0;
    if (!take(&size, 4) || size > in.size()) return false;
    term.assign(in.substr(0, size));
    in.remove_prefix(size);
  }
  return in.empty();
}

Result<TextSearchResult> SearchText(const Collection& collection, embed::Embedder* embedder,
                                    embed::Reranker* reranker, const TextSearchOptions& o,
                                    cache::LayeredCache* cache) {
  const bool dense = o.mode != Mode::kSparse;
  const bool rerank = o.rerank != RerankMode::kOff;
  if (cache == nullptr || !cache->enabled(cache::Kind::kSearchResult) ||
      (dense && embedder == nullptr) || (rerank && reranker == nullptr) || o.text.empty() ||
      o.limit == 0) {
    return SearchTextUncached(collection, embedder, reranker, o);  // or its error
  }
  const auto start = std::chrono::steady_clock::now();
  // The version is read before searching: a result computed now reflects this
  // version or a newer one, and is only found while this version is current.
  const std::string key =
      ResultCacheKey(collection, collection.version(), embedder, reranker, o);
  if (auto bytes = cache->Get(cache::Kind::kSearchResult, key)) {
    TextSearchResult hit;
    if (DecodeCachedResult(*bytes, &hit)) {
      bool complete = true;
      if (o.with_text && !hit.response.hits.empty()) {
        std::vector<uint64_t> ids;
        for (const SearchHit& h : hit.response.hits) ids.push_back(h.point_id);
        QUARRY_ASSIGN_OR_RETURN(auto chunks, collection.GetPoints(ids));
        for (size_t i = 0; i < chunks.size(); ++i) {
          if (!chunks[i].has_value()) {
            complete = false;  // written meanwhile: compute afresh
            break;
          }
          hit.response.hits[i].chunk = std::move(*chunks[i]);
        }
      }
      if (complete) {
        hit.cached = true;
        hit.response.took_ms = MsSince(start);
        return hit;
      }
    }
  }
  QUARRY_ASSIGN_OR_RETURN(TextSearchResult result,
                          SearchTextUncached(collection, embedder, reranker, o));
  cache->Put(cache::Kind::kSearchResult, key, EncodeCachedResult(result));
  return result;
}

}  // namespace quarry::search
