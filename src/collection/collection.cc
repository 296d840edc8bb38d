#include "collection/collection_impl.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include <sys/stat.h>

#include "collection/filter.h"
#include "common/file_util.h"
#include "common/hash.h"
#include "common/log.h"
#include "storage/records.h"
#include "storage/snapshot_file.h"

namespace quarry {

using storage::Change;
using storage::ChangeOp;
using storage::DocRecord;
using storage::Table;

uint64_t NowUnixMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::string EncodeU64(uint64_t v) {
  std::string out;
  PutFixed64(&out, v);
  return out;
}

Result<uint64_t> ReadMetaU64(const storage::Txn& txn, std::string_view key) {
  auto value = txn.Get(Table::kMeta, key);
  if (value.status().IsNotFound()) return uint64_t{0};
  if (!value.ok()) return value.status();
  if (value->size() != 8) return Status::Corruption("bad meta value for " + std::string(key));
  return DecodeFixed64(value->data());
}

// Document metadata must be a JSON object of at most kMaxMetadataBytes
// (compact); it is stored compact, "" for none (and for {}).
Status NormalizeMetadata(std::string* metadata) {
  if (metadata->empty()) return Status::OK();
  auto json = nlohmann::json::parse(*metadata, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return Status::InvalidArgument("metadata is not a JSON object");
  }
  *metadata = json.empty() ? std::string()
                           : json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (metadata->size() > kMaxMetadataBytes) {
    return Status::InvalidArgument("metadata is larger than " + std::to_string(kMaxMetadataBytes) +
                                   " bytes");
  }
  return Status::OK();
}

// Calls fn(point_id, chunk) for every stored chunk, in id order; stops at the
// first error (a chunk that does not decode names its point).
Status ForEachStoredChunk(const storage::Txn& txn,
                          const std::function<Status(uint64_t, const Chunk&)>& fn) {
  Status status;
  QUARRY_RETURN_IF_ERROR(txn.Scan(Table::kPoints, "", [&](std::string_view key,
                                                          std::string_view value) {
    auto chunk = storage::DecodeChunk(value);
    status = chunk.ok() ? fn(DecodeKey64(key), *chunk)
                        : chunk.status().WithContext("point " + std::to_string(DecodeKey64(key)));
    return status.ok();
  }));
  return status;
}

Status CheckVector(std::span<const float> values, const DenseVectorConfig& config) {
  if (values.size() != config.dim) {
    return Status::InvalidArgument("vector '" + config.name + "' has dimension " +
                                   std::to_string(values.size()) + ", expected " +
                                   std::to_string(config.dim));
  }
  for (float v : values) {
    if (!std::isfinite(v)) {
      return Status::InvalidArgument("vector '" + config.name + "' has a non-finite value");
    }
  }
  return Status::OK();
}

Status CheckSparseVector(const SparseVector& vector, const std::string& name) {
  if (vector.indices.size() != vector.values.size()) {
    return Status::InvalidArgument("sparse vector '" + name + "' has " +
                                   std::to_string(vector.indices.size()) + " indices but " +
                                   std::to_string(vector.values.size()) + " values");
  }
  if (vector.indices.size() > 65536) {
    return Status::InvalidArgument("sparse vector '" + name + "' has more than 65536 entries");
  }
  for (float v : vector.values) {
    if (!std::isfinite(v)) {
      return Status::InvalidArgument("sparse vector '" + name + "' has a non-finite value");
    }
  }
  std::vector<uint32_t> sorted = vector.indices;
  std::sort(sorted.begin(), sorted.end());
  auto dup = std::adjacent_find(sorted.begin(), sorted.end());
  if (dup != sorted.end()) {
    return Status::InvalidArgument("sparse vector '" + name + "' has index " +
                                   std::to_string(*dup) + " twice");
  }
  return Status::OK();
}

// The similarity the dense index ranks by: cosine, inner product, or -L2².
float ExactSimilarity(VectorMetric metric, std::span<const float> a, std::span<const float> b) {
  double dot = 0, aa = 0, bb = 0, l2 = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
    double d = static_cast<double>(a[i]) - b[i];
    l2 += d * d;
  }
  switch (metric) {
    case VectorMetric::kCosine:
      return aa > 0 && bb > 0 ? static_cast<float>(dot / std::sqrt(aa * bb)) : 0.0f;
    case VectorMetric::kDot: return static_cast<float>(dot);
    case VectorMetric::kL2: return static_cast<float>(-l2);
  }
  return 0.0f;
}

namespace {

constexpr uint32_t kBm25SnapshotVersion = 1;
constexpr const char* kSnapshotFile = "bm25.snap";
constexpr size_t kMaxQueryBytes = 64 * 1024;

// A crash during WriteFileAtomic can leave "bm25.snap.tmp.*" behind.
void RemoveStaleTempFiles(const std::filesystem::path& dir) {
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (it->path().filename().string().starts_with(std::string(kSnapshotFile) + ".tmp.")) {
      std::error_code remove_ec;
      std::filesystem::remove(it->path(), remove_ec);
    }
  }
}




// Calls `fn` on each logged change with seq > after_seq, in order, until it
// fails. Shared by the replay of every derived index.
Status ForEachChangeAfter(const storage::Txn& txn, uint64_t after_seq,
                          const std::function<Status(const Change&)>& fn) {
  Status status;
  QUARRY_RETURN_IF_ERROR(txn.Scan(Table::kChanges, EncodeKey64(after_seq + 1),
                                  [&](std::string_view, std::string_view value) {
                                    auto change = storage::DecodeChange(value);
                                    status = change.ok() ? fn(*change) : change.status();
                                    return status.ok();
                                  }));
  return status;
}


// The last component of a heading path ("A > B > C" -> "C").
std::string_view LastHeading(std::string_view path) {
  size_t pos = path.rfind(" > ");
  return pos == std::string_view::npos ? path : path.substr(pos + 3);
}


}  // namespace

std::string_view VectorMetricName(VectorMetric metric) {
  switch (metric) {
    case VectorMetric::kCosine: return "cosine";
    case VectorMetric::kDot: return "dot";
    case VectorMetric::kL2: return "l2";
  }
  return "cosine";
}

std::string_view VectorQuantizationName(VectorQuantization quantization) {
  switch (quantization) {
    case VectorQuantization::kNone: return "none";
    case VectorQuantization::kInt8: return "int8";
    case VectorQuantization::kBinary: return "binary";
  }
  return "none";
}

Result<VectorMetric> ParseVectorMetric(std::string_view text) {
  for (auto metric : {VectorMetric::kCosine, VectorMetric::kDot, VectorMetric::kL2}) {
    if (text == VectorMetricName(metric)) return metric;
  }
  return Status::InvalidArgument("unknown vector distance '" + std::string(text) +
                                 "' (use cosine, dot or l2)");
}

std::string_view PayloadIndexTypeName(PayloadIndexType type) {
  switch (type) {
    case PayloadIndexType::kKeyword: return "keyword";
    case PayloadIndexType::kInteger: return "integer";
    case PayloadIndexType::kFloat: return "float";
    case PayloadIndexType::kBool: return "bool";
  }
  return "keyword";
}

Result<PayloadIndexType> ParsePayloadIndexType(std::string_view name) {
  for (auto type : {PayloadIndexType::kKeyword, PayloadIndexType::kInteger, PayloadIndexType::kFloat,
                    PayloadIndexType::kBool}) {
    if (name == PayloadIndexTypeName(type)) return type;
  }
  return Status::InvalidArgument("unknown payload index type '" + std::string(name) +
                                 "' (use keyword, integer, float or bool)");
}

Result<VectorQuantization> ParseVectorQuantization(std::string_view text) {
  for (auto q : {VectorQuantization::kNone, VectorQuantization::kInt8, VectorQuantization::kBinary}) {
    if (text == VectorQuantizationName(q)) return q;
  }
  return Status::InvalidArgument("unknown quantization '" + std::string(text) +
                                 "' (use none, int8 or binary)");
}

nlohmann::json OptionsToJson(const CollectionOptions& o) {
  nlohmann::json dense = nlohmann::json::array();
  for (const auto& v : o.dense_vectors) {
    dense.push_back({{"name", v.name},
                     {"dim", v.dim},
                     {"metric", VectorMetricName(v.metric)},
                     {"quantization", VectorQuantizationName(v.quantization)},
                     {"hnsw_m", v.hnsw_m},
                     {"hnsw_ef_construction", v.hnsw_ef_construction},
                     {"hnsw_ef_search", v.hnsw_ef_search}});
  }
  nlohmann::json out = {{"chunk_max_tokens", o.chunk_max_tokens},
                        {"chunk_overlap_tokens", o.chunk_overlap_tokens},
                        {"bm25_k1", o.bm25_k1},
                        {"bm25_b", o.bm25_b},
                        {"title_boost", o.title_boost},
                        {"stem", o.stem},
                        {"remove_stop_words", o.remove_stop_words},
                        {"dense_vectors", dense}};
  // Only when there are some: the config text is part of every document's
  // content hash, so older collections must keep theirs.
  if (!o.sparse_vectors.empty()) {
    nlohmann::json sparse = nlohmann::json::array();
    for (const auto& v : o.sparse_vectors) sparse.push_back({{"name", v.name}, {"idf", v.idf}});
    out["sparse_vectors"] = sparse;
  }
  if (o.rrf_k != 0) out["rrf_k"] = o.rrf_k;
  if (!o.fusion_weights.empty()) out["fusion_weights"] = o.fusion_weights;
  return out;
}

Result<CollectionOptions> OptionsFromJson(std::string_view text) {
  auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return Status::Corruption("collection config is not a JSON object");
  }
  CollectionOptions o;
  try {
    o.chunk_max_tokens = json.value("chunk_max_tokens", o.chunk_max_tokens);
    o.chunk_overlap_tokens = json.value("chunk_overlap_tokens", o.chunk_overlap_tokens);
    o.bm25_k1 = json.value("bm25_k1", o.bm25_k1);
    o.bm25_b = json.value("bm25_b", o.bm25_b);
    o.title_boost = json.value("title_boost", o.title_boost);
    o.stem = json.value("stem", o.stem);
    o.remove_stop_words = json.value("remove_stop_words", o.remove_stop_words);
    for (const auto& v : json.value("dense_vectors", nlohmann::json::array())) {
      DenseVectorConfig config;
      config.name = v.at("name").get<std::string>();
      config.dim = v.at("dim").get<size_t>();
      QUARRY_ASSIGN_OR_RETURN(config.metric, ParseVectorMetric(v.at("metric").get<std::string>()));
      QUARRY_ASSIGN_OR_RETURN(config.quantization,
                              ParseVectorQuantization(v.at("quantization").get<std::string>()));
      config.hnsw_m = v.value("hnsw_m", config.hnsw_m);
      config.hnsw_ef_construction = v.value("hnsw_ef_construction", config.hnsw_ef_construction);
      config.hnsw_ef_search = v.value("hnsw_ef_search", config.hnsw_ef_search);
      o.dense_vectors.push_back(std::move(config));
    }
    for (const auto& v : json.value("sparse_vectors", nlohmann::json::array())) {
      o.sparse_vectors.push_back({v.at("name").get<std::string>(), v.value("idf", false)});
    }
    o.rrf_k = json.value("rrf_k", 0);
    o.fusion_weights = json.value("fusion_weights", std::vector<float>{});
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(std::string("collection config: ") + e.what());
  }
  return o;
}

Status ValidateCollectionOptions(const CollectionOptions& o) {
  if (o.chunk_max_tokens < 16 || o.chunk_max_tokens > 8192) {
    return Status::InvalidArgument("chunk size must be between 16 and 8192 tokens");
  }
  if (o.chunk_overlap_tokens >= o.chunk_max_tokens / 2 + 1) {
    return Status::InvalidArgument("chunk overlap must be less than half the chunk size");
  }
  if (!(o.bm25_k1 >= 0.0f && o.bm25_k1 <= 10.0f)) {
    return Status::InvalidArgument("bm25 k1 must be in [0, 10]");
  }
  if (!(o.bm25_b >= 0.0f && o.bm25_b <= 1.0f)) {
    return Status::InvalidArgument("bm25 b must be in [0, 1]");
  }
  if (!(o.title_boost >= 0.0f && o.title_boost <= 100.0f)) {
    return Status::InvalidArgument("title boost must be in [0, 100]");
  }
  if (o.rrf_k < 0 || o.rrf_k > 100000) {
    return Status::InvalidArgument("rrf k must be in [1, 100000] (0: Qdrant's default)");
  }
  if (!o.fusion_weights.empty()) {
    if (o.fusion_weights.size() != 2) {
      return Status::InvalidArgument("fusion weights are two numbers: dense, then sparse");
    }
    for (float w : o.fusion_weights) {
      if (!(w >= 0.0f && w <= 1e6f)) {
        return Status::InvalidArgument("fusion weights must be non-negative finite numbers");
      }
    }
  }
  std::vector<std::string> names;
  auto check_name = [&](const std::string& name) -> Status {
    bool valid_name = !name.empty() && name.size() <= 64 &&
                      std::all_of(name.begin(), name.end(), [](unsigned char c) {
                        return std::isalnum(c) || c == '_' || c == '-';
                      });
    if (!valid_name) {
      return Status::InvalidArgument("invalid vector name '" + name +
                                     "': use 1-64 letters, digits, '_' or '-'");
    }
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      return Status::InvalidArgument("vector name '" + name + "' given twice");
    }
    names.push_back(name);
    return Status::OK();
  };
  for (const auto& v : o.sparse_vectors) QUARRY_RETURN_IF_ERROR(check_name(v.name));
  for (size_t field_idx = 0; field_idx < o.dense_vectors.size(); ++field_idx) {
    const auto& v = o.dense_vectors[field_idx];
    QUARRY_RETURN_IF_ERROR(check_name(v.name));
    if (v.dim == 0 || v.dim > 65536) {
      return Status::InvalidArgument("vector '" + v.name + "': dimension must be in [1, 65536]");
    }
    if (v.hnsw_m < 2 || v.hnsw_m > 256 || v.hnsw_ef_construction < 1 || v.hnsw_ef_search < 1) {
      return Status::InvalidArgument("vector '" + v.name +
                                     "': hnsw m must be in [2, 256] and ef values at least 1");
    }
  }
  return Status::OK();
}

// The collection's identity across processes and re-creations (a dropped and
// re-created collection restarts its sequence numbers; its uid differs).
// Collections made before uids existed get one on their first writable open;
// opened read-only they use a stand-in derived from the store file's identity.
static Result<std::string> LoadOrCreateUid(storage::LmdbStore* store, const std::filesystem::path& dir,
                                           bool read_only) {
  {
    QUARRY_ASSIGN_OR_RETURN(auto txn, store->BeginRead());
    auto uid = txn->Get(Table::kMeta, storage::kMetaUid);
    if (uid.ok()) return std::string(*uid);
    if (!uid.status().IsNotFound()) return uid.status();
  }
  if (read_only) {
    struct stat st {};
    std::string key = std::filesystem::absolute(dir).string();
    if (::stat((dir / "data.mdb").c_str(), &st) == 0) {
      key += ":" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    }
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(Hash64(key)));
    return std::string("ro-") + hex;
  }
  std::random_device device;
  char hex[33];
  std::snprintf(hex, sizeof(hex), "%08x%08x%08x%08x", device(), device(), device(), device());
  QUARRY_ASSIGN_OR_RETURN(auto txn, store->BeginWrite());
  QUARRY_RETURN_IF_ERROR(txn->Put(Table::kMeta, storage::kMetaUid, hex));
  QUARRY_RETURN_IF_ERROR(txn->Commit());
  return std::string(hex);
}

Collection::Impl::Impl(std::string name_in, std::filesystem::path dir_in, CollectionOptions options_in)
    : name(std::move(name_in)),
      dir(std::move(dir_in)),
      options(options_in),
      analyzer(text::AnalyzerOptions{options_in.remove_stop_words, options_in.stem, "english"}),
      chunker(text::ChunkerOptions{options_in.chunk_max_tokens, options_in.chunk_overlap_tokens, {}}),
      index(index::Bm25Params{options_in.bm25_k1, options_in.bm25_b}) {}

Result<std::unique_ptr<Collection::Impl>> Collection::Impl::Open(
    const std::string& name, const std::filesystem::path& dir, const CollectionOptions* create,
    const storage::StoreOptions& store_options) {
  QUARRY_ASSIGN_OR_RETURN(auto store, storage::LmdbStore::Open(dir, store_options));
  CollectionOptions options;
  {
    QUARRY_ASSIGN_OR_RETURN(auto txn, store->BeginRead());
    auto config = txn->Get(Table::kMeta, storage::kMetaConfig);
    if (config.ok()) {
      QUARRY_ASSIGN_OR_RETURN(options, OptionsFromJson(*config));
    } else if (!config.status().IsNotFound()) {
      return config.status();
    } else if (create == nullptr) {
      return Status::NotFound("collection '" + name + "' does not exist");
    } else {
      QUARRY_RETURN_IF_ERROR(ValidateCollectionOptions(*create));
      options = *create;
      txn.reset();
      QUARRY_ASSIGN_OR_RETURN(auto wtxn, store->BeginWrite());
      QUARRY_RETURN_IF_ERROR(
          wtxn->Put(Table::kMeta, storage::kMetaConfig, OptionsToJson(options).dump()));
      QUARRY_RETURN_IF_ERROR(wtxn->Commit());
    }
  }
  auto impl = std::make_unique<Impl>(name, dir, options);
  impl->store = std::move(store);
  impl->read_only = store_options.read_only;
  QUARRY_ASSIGN_OR_RETURN(impl->uid, LoadOrCreateUid(impl->store.get(), dir, impl->read_only));
  if (!impl->read_only) RemoveStaleTempFiles(dir);
  QUARRY_RETURN_IF_ERROR(impl->LoadIndex());
  QUARRY_RETURN_IF_ERROR(impl->LoadPayloadIndexes());
  uint64_t last_seq = 0;
  uint64_t pruned_seq = 0;
  {
    QUARRY_ASSIGN_OR_RETURN(auto txn, impl->store->BeginRead());
    QUARRY_ASSIGN_OR_RETURN(last_seq, ReadMetaU64(*txn, storage::kMetaLastSeq));
    QUARRY_ASSIGN_OR_RETURN(pruned_seq, ReadMetaU64(*txn, storage::kMetaPrunedSeq));
  }
  impl->sparse.resize(impl->options.sparse_vectors.size());
  for (size_t field_idx = 0; field_idx < impl->sparse.size(); ++field_idx) {
    impl->sparse[field_idx].config = impl->options.sparse_vectors[field_idx];
    QUARRY_RETURN_IF_ERROR(impl->LoadSparse(&impl->sparse[field_idx], last_seq, pruned_seq));
  }
  if (!impl->options.dense_vectors.empty()) {
    impl->dense.resize(impl->options.dense_vectors.size());
    for (size_t field_idx = 0; field_idx < impl->dense.size(); ++field_idx) {
      impl->dense[field_idx].config = impl->options.dense_vectors[field_idx];
      QUARRY_RETURN_IF_ERROR(impl->LoadDense(&impl->dense[field_idx], last_seq, pruned_seq));
    }
  }
  // Persist whatever was rebuilt or replayed (a no-op when all is current).
  if (!impl->read_only && impl->applied_seq > 0) {
    Status flushed = impl->FlushLocked();
    if (!flushed.ok()) LogWarning("cannot write index snapshots: " + flushed.ToString());
  }
  return impl;
}

void Collection::Impl::ChunkTerms(const Chunk& chunk, std::vector<index::WeightedTerm>* terms,
                                  float* length) const {
  terms->clear();
  std::vector<std::string> scratch;
  float total = 0.0f;
  auto add = [&](std::string_view text, float weight) {
    if (weight <= 0.0f || text.empty()) return;
    scratch.clear();
    analyzer.Analyze(text, &scratch);
    for (auto& term : scratch) terms->push_back({std::move(term), weight});
    total += weight * static_cast<float>(scratch.size());
  };
  add(chunk.title, options.title_boost);
  std::string_view heading = LastHeading(chunk.section);
  if (heading != chunk.title) add(heading, 1.0f);
  add(chunk.text, 1.0f);
  *length = std::max(total, 1.0f);
}

Status Collection::Impl::ApplyChunkToIndex(uint64_t point_id, const Chunk& chunk) {
  if (IsApiPoint(chunk) && chunk.text.empty()) return Status::OK();  // nothing for BM25
  std::vector<index::WeightedTerm> terms;
  float length = 0;
  ChunkTerms(chunk, &terms, &length);
  index.Add(point_id, terms, length);
  return Status::OK();
}

Status Collection::Impl::RebuildIndex() {
  index = index::Bm25Index(index::Bm25Params{options.bm25_k1, options.bm25_b});
  QUARRY_ASSIGN_OR_RETURN(auto txn, store->BeginRead());
  QUARRY_ASSIGN_OR_RETURN(applied_seq, ReadMetaU64(*txn, storage::kMetaLastSeq));
  return ForEachStoredChunk(*txn, [&](uint64_t point_id, const Chunk& chunk) {
    return ApplyChunkToIndex(point_id, chunk);
  });
}

Status Collection::Impl::ReplayChanges(const storage::Txn& txn, uint64_t after_seq) {
  return ForEachChangeAfter(txn, after_seq, [&](const Change& change) -> Status {
    if (change.op == ChangeOp::kDelete) {
      index.Remove(change.point_id);
      return Status::OK();
    }
    if (index.Contains(change.point_id)) return Status::OK();
    auto bytes = txn.Get(Table::kPoints, EncodeKey64(change.point_id));
    if (bytes.status().IsNotFound()) return Status::OK();  // deleted by a later change
    if (!bytes.ok()) return bytes.status();
    QUARRY_ASSIGN_OR_RETURN(Chunk chunk, storage::DecodeChunk(*bytes));
    return ApplyChunkToIndex(change.point_id, chunk);
  });
}

Status Collection::Impl::LoadIndex() {
  uint64_t last_seq = 0;
  uint64_t pruned_seq = 0;
  {
    QUARRY_ASSIGN_OR_RETURN(auto txn, store->BeginRead());
    QUARRY_ASSIGN_OR_RETURN(last_seq, ReadMetaU64(*txn, storage::kMetaLastSeq));
    QUARRY_ASSIGN_OR_RETURN(pruned_seq, ReadMetaU64(*txn, storage::kMetaPrunedSeq));
    auto snapshot = storage::ReadSnapshotFile(dir / kSnapshotFile, storage::SnapshotKind::kBm25Index);
    std::string why;
    if (snapshot.ok()) {
      if (snapshot->version != kBm25SnapshotVersion) {
        why = "unsupported snapshot version " + std::to_string(snapshot->version);
      } else if (snapshot->seq > last_seq) {
        why = "snapshot is ahead of the store (seq " + std::to_string(snapshot->seq) + " > " +
              std::to_string(last_seq) + ")";
      } else if (snapshot->seq < pruned_seq) {
        why = "snapshot is older than the change log (seq " + std::to_string(snapshot->seq) +
              " < " + std::to_string(pruned_seq) + ")";
      } else {
        auto loaded = index::Bm25Index::Deserialize(snapshot->payload);
        if (loaded.ok()) {
          index = std::move(loaded).value();
          index.set_params(index::Bm25Params{options.bm25_k1, options.bm25_b});
          snapshot_seq = snapshot->seq;
          Status replay = ReplayChanges(*txn, snapshot->seq);
          if (replay.ok()) {
            applied_seq = last_seq;
            return Status::OK();
          }
          why = "replay failed: " + replay.ToString();
        } else {
          why = loaded.status().ToString();
        }
      }
    } else if (!snapshot.status().IsNotFound()) {
      why = snapshot.status().ToString();
    } else if (last_seq > 0) {
      why = "no index snapshot";
    }
    if (!why.empty()) {
      LogWarning("collection '" + name + "': rebuilding the BM25 index from the store: " + why);
    }
  }
  snapshot_seq = 0;
  return RebuildIndex();
}

Status Collection::Impl::FlushLocked() {
  if (read_only) return Status::OK();
  uint64_t seq;
  std::string payload;
  bool bm25_behind;
  std::vector<std::pair<SparseField*, std::string>> sparse_payloads;
  {
    std::shared_lock lock(index_mu);
    seq = applied_seq;
    bm25_behind = snapshot_seq != seq || !std::filesystem::exists(dir / kSnapshotFile);
    if (bm25_behind) payload = index.Serialize();
    // Dense snapshots are written under the shared lock: Save needs a stable
    // index, and writers wait for write_mu, which the caller holds.
    for (auto& field : dense) {
      if (field.snapshot_seq == seq && seq != 0) continue;
      std::error_code ec;
      std::filesystem::create_directories(DenseDir(field), ec);
      if (ec) return ErrnoStatus("cannot create " + DenseDir(field).string(), ec.value());
      QUARRY_RETURN_IF_ERROR(field.index->Save(DenseDir(field), seq));
      field.snapshot_seq = seq;
    }
    for (auto& field : sparse) {
      if (field.snapshot_seq == seq && std::filesystem::exists(SparseSnapshotPath(field))) continue;
      sparse_payloads.emplace_back(&field, field.index->Serialize());
    }
  }
  for (auto& [field, sparse_payload] : sparse_payloads) {
    std::error_code ec;
    std::filesystem::create_directories(SparseSnapshotPath(*field).parent_path(), ec);
    if (ec) return ErrnoStatus("cannot create " + SparseSnapshotPath(*field).parent_path().string(), ec.value());
    QUARRY_RETURN_IF_ERROR(storage::WriteSnapshotFile(
        SparseSnapshotPath(*field),
        storage::Snapshot{storage::SnapshotKind::kSparseVectorIndex,
                          index::SparseVectorIndex::kFormatVersion, seq, std::move(sparse_payload)}));
    field->snapshot_seq = seq;
  }
  if (bm25_behind) {
    QUARRY_RETURN_IF_ERROR(storage::WriteSnapshotFile(
        dir / kSnapshotFile,
        storage::Snapshot{storage::SnapshotKind::kBm25Index, kBm25SnapshotVersion, seq,
                          std::move(payload)}));
    snapshot_seq = seq;
  }
  // Every snapshot now covers the changes <= seq: prune them.
  QUARRY_ASSIGN_OR_RETURN(auto txn, store->BeginWrite());
  QUARRY_ASSIGN_OR_RETURN(uint64_t pruned, ReadMetaU64(*txn, storage::kMetaPrunedSeq));
  if (pruned >= seq) return Status::OK();
  std::vector<std::string> keys;
  QUARRY_RETURN_IF_ERROR(txn->Scan(Table::kChanges, "", [&](std::string_view key, std::string_view) {
    if (DecodeKey64(key) > seq) return false;
    keys.emplace_back(key);
    return true;
  }));
  for (const auto& key : keys) QUARRY_RETURN_IF_ERROR(txn->Delete(Table::kChanges, key));
  QUARRY_RETURN_IF_ERROR(txn->Put(Table::kMeta, storage::kMetaPrunedSeq, EncodeU64(seq)));
  return txn->Commit();
}

// --- dense vectors -----------------------------------------------------------

namespace {

index::dense::DenseIndexOptions ToDenseOptions(const DenseVectorConfig& config) {
  index::dense::DenseIndexOptions options;
  options.dim = config.dim;
  switch (config.metric) {
    case VectorMetric::kCosine: options.metric = index::dense::Metric::kCosine; break;
    case VectorMetric::kDot: options.metric = index::dense::Metric::kDot; break;
    case VectorMetric::kL2: options.metric = index::dense::Metric::kL2; break;
  }
  switch (config.quantization) {
    case VectorQuantization::kNone: options.quantization = index::dense::Quantization::kFloat32; break;
    case VectorQuantization::kInt8: options.quantization = index::dense::Quantization::kInt8; break;
    case VectorQuantization::kBinary: options.quantization = index::dense::Quantization::kBinary; break;
  }
  options.hnsw.m = config.hnsw_m;
  options.hnsw.ef_construction = config.hnsw_ef_construction;
  options.hnsw.ef_search = config.hnsw_ef_search;
  return options;
}

bool SameShape(const index::dense::DenseIndexOptions& a, const index::dense::DenseIndexOptions& b) {
  return a.dim == b.dim && a.metric == b.metric && a.quantization == b.quantization &&
         a.hnsw.m == b.hnsw.m;
}

// Evaluates a filter on points, loading each point's chunk from the store on
// first use and remembering the answer for the rest of the query. A point
// outside `candidates` (when given) fails without being loaded; one deleted
// since the search began fails; a store error fails it and is kept in status().
class PointFilter {
 public:
  PointFilter(const CompiledFilter* filter, const storage::Txn* txn,
              const std::vector<uint64_t>* candidates)
      : filter_(filter), txn_(txn), candidates_(candidates) {}

  bool operator()(uint64_t point_id) {
    if (candidates_ != nullptr &&
        !std::binary_search(candidates_->begin(), candidates_->end(), point_id)) {
      return false;
    }
    auto [it, inserted] = seen_.try_emplace(point_id, false);
    if (!inserted) return it->second;
    auto bytes = txn_->Get(Table::kPoints, EncodeKey64(point_id));
    if (!bytes.ok()) {
      if (!bytes.status().IsNotFound() && status_.ok()) status_ = bytes.status();
      return false;
    }
    auto chunk = storage::DecodeChunk(*bytes);
    if (!chunk.ok()) {
      if (status_.ok()) status_ = chunk.status().WithContext("point " + std::to_string(point_id));
      return false;
    }
    it->second = filter_->Matches(point_id, *chunk);
    return it->second;
  }

  const Status& status() const { return status_; }

 private:
  const CompiledFilter* filter_;
  const storage::Txn* txn_;
  const std::vector<uint64_t>* candidates_;
  std::unordered_map<uint64_t, bool> seen_;
  Status status_;
};




}  // namespace

Status Collection::Impl::DeletePoint(storage::Txn* txn, uint64_t point_id) {
  QUARRY_RETURN_IF_ERROR(txn->Delete(Table::kPoints, EncodeKey64(point_id)));
  for (const auto& config : options.dense_vectors) {
    QUARRY_RETURN_IF_ERROR(txn->Delete(Table::kVectors, storage::VectorKey(point_id, config.name)));
  }
  for (const auto& config : options.sparse_vectors) {
    QUARRY_RETURN_IF_ERROR(txn->Delete(
        Table::kVectors, storage::VectorKey(point_id, storage::SparseVectorKeyName(config.name))));
  }
  return Status::OK();
}

Collection::Impl::SparseField* Collection::Impl::FindSparse(std::string_view field_name) {
  for (auto& field : sparse) {
    if (field.config.name == field_name) return &field;
  }
  return nullptr;
}

Status Collection::Impl::RebuildSparse(SparseField* field, const storage::Txn& txn) {
  field->index = std::make_unique<index::SparseVectorIndex>(
      field->config.idf ? index::SparseModifier::kIdf : index::SparseModifier::kNone);
  field->snapshot_seq = 0;
  const std::string suffix = storage::SparseVectorKeyName(field->config.name);
  Status status;
  QUARRY_RETURN_IF_ERROR(txn.Scan(Table::kVectors, "", [&](std::string_view key,
                                                            std::string_view value) {
    if (key.size() < 8 || key.substr(8) != suffix) return true;
    auto vector = storage::DecodeSparseVector(value);
    if (!vector.ok()) {
      status = Status::Corruption("bad stored sparse vector for point " +
                                  std::to_string(DecodeKey64(key)));
      return false;
    }
    status = field->index->Add(DecodeKey64(key), {vector->first, vector->second});
    return status.ok();
  }));
  return status;
}

Status Collection::Impl::ReplaySparse(SparseField* field, const storage::Txn& txn,
                                      uint64_t after_seq) {
  const std::string name = storage::SparseVectorKeyName(field->config.name);
  return ForEachChangeAfter(txn, after_seq, [&](const Change& change) -> Status {
    field->index->Remove(change.point_id);
    if (change.op == ChangeOp::kDelete) return Status::OK();
    auto bytes = txn.Get(Table::kVectors, storage::VectorKey(change.point_id, name));
    if (bytes.status().IsNotFound()) return Status::OK();  // no such vector, or deleted later
    if (!bytes.ok()) return bytes.status();
    QUARRY_ASSIGN_OR_RETURN(auto vector, storage::DecodeSparseVector(*bytes));
    return field->index->Add(change.point_id, {vector.first, vector.second});
  });
}

Status Collection::Impl::LoadSparse(SparseField* field, uint64_t last_seq, uint64_t pruned_seq) {
  QUARRY_ASSIGN_OR_RETURN(auto txn, store->BeginRead());
  std::string why;
  auto snapshot = storage::ReadSnapshotFile(SparseSnapshotPath(*field),
                                            storage::SnapshotKind::kSparseVectorIndex);
  if (snapshot.ok()) {
    const auto modifier =
        field->config.idf ? index::SparseModifier::kIdf : index::SparseModifier::kNone;
    if (snapshot->version != index::SparseVectorIndex::kFormatVersion) {
      why = "unsupported snapshot version " + std::to_string(snapshot->version);
    } else if (snapshot->seq > last_seq || snapshot->seq < pruned_seq) {
      why = "snapshot sequence " + std::to_string(snapshot->seq) + " outside [" +
            std::to_string(pruned_seq) + ", " + std::to_string(last_seq) + "]";
    } else {
      auto loaded = index::SparseVectorIndex::Deserialize(snapshot->payload);
      if (!loaded.ok()) {
        why = loaded.status().ToString();
      } else if (loaded->modifier() != modifier) {
        why = "snapshot was built with another modifier";
      } else {
        field->index = std::make_unique<index::SparseVectorIndex>(std::move(loaded).value());
        field->snapshot_seq = snapshot->seq;
        Status replay = ReplaySparse(field, *txn, snapshot->seq);
        if (replay.ok()) return Status::OK();
        why = "replay failed: " + replay.ToString();
      }
    }
  } else if (!snapshot.status().IsNotFound()) {
    why = snapshot.status().ToString();
  } else if (last_seq > 0) {
    why = "no index snapshot";
  }
  if (!why.empty()) {
    LogWarning("collection '" + name + "': rebuilding sparse vector '" + field->config.name +
               "' from the store: " + why);
  }
  return RebuildSparse(field, *txn);
}

Collection::Impl::DenseField* Collection::Impl::FindDense(std::string_view field_name) {
  for (auto& field : dense) {
    if (field.config.name == field_name) return &field;
  }
  return nullptr;
}

Status Collection::Impl::RebuildDense(DenseField* field, const storage::Txn& txn) {
  QUARRY_ASSIGN_OR_RETURN(field->index, index::dense::DenseIndex::Create(ToDenseOptions(field->config)));
  field->snapshot_seq = 0;
  // Gather this field's vectors, train the codec on them, then add in bulk.
  std::vector<uint64_t> ids;
  std::vector<float> values;
  Status status;
  QUARRY_RETURN_IF_ERROR(txn.Scan(Table::kVectors, "", [&](std::string_view key,
                                                            std::string_view value) {
    if (key.size() < 8 || key.substr(8) != field->config.name) return true;
    auto vector = storage::DecodeVector(value);
    if (!vector.ok() || vector->size() != field->config.dim) {
      status = Status::Corruption("bad stored vector for point " + std::to_string(DecodeKey64(key)));
      return false;
    }
    ids.push_back(DecodeKey64(key));
    values.insert(values.end(), vector->begin(), vector->end());
    return true;
  }));
  QUARRY_RETURN_IF_ERROR(status);
  if (ids.empty()) return Status::OK();
  size_t sample = std::min<size_t>(ids.size(), 20000) * field->config.dim;
  QUARRY_RETURN_IF_ERROR(field->index->Train(std::span<const float>(values.data(), sample)));
  size_t threads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8);
  return field->index->AddBatch(ids, values, threads);
}

Status Collection::Impl::ReplayDense(DenseField* field, const storage::Txn& txn, uint64_t after_seq) {
  return ForEachChangeAfter(txn, after_seq, [&](const Change& change) -> Status {
    if (change.op == ChangeOp::kDelete) {
      field->index->Remove(change.point_id);
      return Status::OK();
    }
    auto bytes = txn.Get(Table::kVectors, storage::VectorKey(change.point_id, field->config.name));
    if (bytes.status().IsNotFound()) return Status::OK();  // no vector, or deleted later
    if (!bytes.ok()) return bytes.status();
    QUARRY_ASSIGN_OR_RETURN(std::vector<float> vector, storage::DecodeVector(*bytes));
    return field->index->Add(change.point_id, vector);
  });
}

Status Collection::Impl::LoadDense(DenseField* field, uint64_t last_seq, uint64_t pruned_seq) {
  QUARRY_ASSIGN_OR_RETURN(auto txn, store->BeginRead());
  uint64_t seq = 0;
  std::string why;
  std::error_code ec;
  if (std::filesystem::exists(DenseDir(*field), ec)) {
    auto loaded = index::dense::DenseIndex::Load(DenseDir(*field), &seq);
    if (!loaded.ok()) {
      why = loaded.status().ToString();
    } else if (!SameShape((*loaded)->options(), ToDenseOptions(field->config))) {
      why = "snapshot was built with other vector settings";
    } else if (seq > last_seq || seq < pruned_seq) {
      why = "snapshot sequence " + std::to_string(seq) + " outside [" + std::to_string(pruned_seq) +
            ", " + std::to_string(last_seq) + "]";
    } else {
      field->index = std::move(loaded).value();
      field->snapshot_seq = seq;
      Status replay = ReplayDense(field, *txn, seq);
      if (replay.ok()) return Status::OK();
      why = "replay failed: " + replay.ToString();
    }
  } else if (last_seq > 0) {
    why = "no index snapshot";
  }
  if (!why.empty()) {
    LogWarning("collection '" + name + "': rebuilding dense vector '" + field->config.name +
               "' from the store: " + why);
  }
  return RebuildDense(field, *txn);
}

// ---------------------------------------------------------------------------

Collection::Collection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Collection::~Collection() {
  if (impl_ != nullptr && !impl_->read_only) {
    std::lock_guard write_lock(impl_->write_mu);
    Status st = impl_->FlushLocked();
    if (!st.ok()) LogWarning("collection '" + impl_->name + "': " + st.ToString());
  }
}

const std::string& Collection::name() const { return impl_->name; }
const CollectionOptions& Collection::options() const { return impl_->options; }
const std::string& Collection::uid() const { return impl_->uid; }
uint64_t Collection::version() const {
  return impl_->applied_seq.load(std::memory_order_acquire);
}

void PreparedUpsertDeleter::operator()(PreparedUpsert* prepared) const { delete prepared; }

Result<PreparedUpsertPtr> Collection::PrepareUpsert(std::vector<Document> docs,
                                                    ChunkEmbedder* embedder) const {
  const Impl& im = *impl_;
  if (im.read_only) return Status::FailedPrecondition("collection opened read-only");
  PreparedUpsertPtr out(new PreparedUpsert);
  std::vector<PreparedUpsert::Doc>& prepared = out->prepared;
  prepared.resize(docs.size());
  {
    QUARRY_ASSIGN_OR_RETURN(auto txn, im.store->BeginRead());
    std::string config = OptionsToJson(im.options).dump();
    for (size_t doc_idx = 0; doc_idx < docs.size(); ++doc_idx) {
      Document& doc = docs[doc_idx];
      if (doc.doc_id.empty()) return Status::InvalidArgument("document without an id");
      if (doc.doc_id[0] == kPointKeyMark) {
        return Status::InvalidArgument("document ids must not start with U+001F");
      }
      QUARRY_RETURN_IF_ERROR(
          NormalizeMetadata(&doc.metadata).WithContext("document '" + doc.doc_id + "'"));
      std::string keyed = doc.title;
      keyed += '\0';
      keyed += doc.source;
      keyed += '\0';
      if (!doc.metadata.empty()) {  // documents without metadata keep their old hash
        keyed += doc.metadata;
        keyed += '\0';
      }
      prepared[doc_idx].hash = Hash64(doc.text, Hash64(keyed, Hash64(config)));
      auto existing = txn->Get(Table::kDocs, doc.doc_id);
      if (existing.ok()) {
        auto record = storage::DecodeDocRecord(*existing);
        if (record.ok() && record->content_hash == prepared[doc_idx].hash) {
          prepared[doc_idx].unchanged = true;
          continue;
        }
      } else if (!existing.status().IsNotFound()) {
        return existing.status();
      }
    }
  }
  // Chunk and analyse outside the store transaction.
  for (size_t doc_idx = 0; doc_idx < docs.size(); ++doc_idx) {
    if (!prepared[doc_idx].unchanged) prepared[doc_idx].chunks = im.chunker.Split(docs[doc_idx]);
  }
  // Dense vectors of the new chunks: field_vectors[field][n] for the n-th new
  // chunk in document order.
  std::vector<std::vector<std::vector<float>>>& field_vectors = out->field_vectors;
  if (embedder != nullptr && !im.dense.empty()) {
    std::vector<const Chunk*> new_chunks;
    for (const auto& prep : prepared) {
      for (const auto& chunk : prep.chunks) new_chunks.push_back(&chunk);
    }
    field_vectors.resize(im.dense.size());
    if (!new_chunks.empty()) {
      for (size_t field_idx = 0; field_idx < im.dense.size(); ++field_idx) {
        const DenseVectorConfig& config = im.dense[field_idx].config;
        QUARRY_RETURN_IF_ERROR(embedder->Embed(new_chunks, config, &field_vectors[field_idx])
                                   .WithContext("embedding '" + config.name + "'"));
        if (field_vectors[field_idx].size() != new_chunks.size()) {
          return Status::Internal("embedder returned " +
                                  std::to_string(field_vectors[field_idx].size()) + " vectors for " +
                                  std::to_string(new_chunks.size()) + " chunks");
        }
        for (const auto& vector : field_vectors[field_idx]) {
          QUARRY_RETURN_IF_ERROR(CheckVector(vector, config));
        }
      }
    }
  }
  out->docs = std::move(docs);
  return out;
}

Result<UpsertStats> Collection::Upsert(std::vector<Document> docs, ChunkEmbedder* embedder) {
  QUARRY_ASSIGN_OR_RETURN(PreparedUpsertPtr prepared, PrepareUpsert(std::move(docs), embedder));
  return CommitUpsert(std::move(prepared));
}

Result<UpsertStats> Collection::CommitUpsert(PreparedUpsertPtr prepared_upsert) {
  Impl& im = *impl_;
  if (im.read_only) return Status::FailedPrecondition("collection opened read-only");
  if (prepared_upsert == nullptr) return Status::InvalidArgument("nothing prepared");
  std::lock_guard write_lock(im.write_mu);
  UpsertStats stats;
  std::vector<Document>& docs = prepared_upsert->docs;
  std::vector<PreparedUpsert::Doc>& prepared = prepared_upsert->prepared;
  std::vector<std::vector<std::vector<float>>>& field_vectors = prepared_upsert->field_vectors;
  struct Op {
    bool add;
    uint64_t point_id;
    size_t doc_idx;
    size_t chunk_idx;
    size_t vector_idx;  // into field_vectors[*] when they exist
  };
  size_t new_chunk_counter = 0;

  std::vector<Op> ops;
  uint64_t seq = 0;
  {
    QUARRY_ASSIGN_OR_RETURN(auto txn, im.store->BeginWrite());
    QUARRY_ASSIGN_OR_RETURN(seq, ReadMetaU64(*txn, storage::kMetaLastSeq));
    QUARRY_ASSIGN_OR_RETURN(uint64_t next_point, ReadMetaU64(*txn, storage::kMetaNextPointId));
    if (next_point == 0) next_point = 1;
    uint64_t now = NowUnixMs();
    for (size_t doc_idx = 0; doc_idx < docs.size(); ++doc_idx) {
      PreparedUpsert::Doc& prep = prepared[doc_idx];
      const Document& doc = docs[doc_idx];
      if (prep.unchanged) {
        ++stats.unchanged;
        continue;
      }
      size_t first_vector = new_chunk_counter;
      new_chunk_counter += prep.chunks.size();
      auto existing = txn->Get(Table::kDocs, doc.doc_id);
      if (existing.ok()) {
        QUARRY_ASSIGN_OR_RETURN(DocRecord old, storage::DecodeDocRecord(*existing));
        if (old.content_hash == prep.hash && field_vectors.empty()) {  // duplicate in this batch
          ++stats.unchanged;
          continue;
        }
        for (uint64_t point_id : old.point_ids) {
          QUARRY_RETURN_IF_ERROR(im.DeletePoint(txn.get(), point_id));
          QUARRY_RETURN_IF_ERROR(txn->Put(Table::kChanges, EncodeKey64(++seq),
                                          storage::EncodeChange({ChangeOp::kDelete, point_id})));
          ops.push_back({false, point_id, 0, 0, 0});
          ++stats.chunks_deleted;
        }
        ++stats.replaced;
      } else if (!existing.status().IsNotFound()) {
        return existing.status();
      } else {
        ++stats.added;
      }
      DocRecord record{doc.source, doc.title, prep.hash, now, {}};
      for (size_t chunk_idx = 0; chunk_idx < prep.chunks.size(); ++chunk_idx) {
        // Skip ids that points written through the points API hold.
        while (txn->Get(Table::kPoints, EncodeKey64(next_point)).ok()) ++next_point;
        uint64_t point_id = next_point++;
        QUARRY_RETURN_IF_ERROR(txn->Put(Table::kPoints, EncodeKey64(point_id),
                                        storage::EncodeChunk(prep.chunks[chunk_idx])));
        for (size_t field_idx = 0; field_idx < field_vectors.size(); ++field_idx) {
          QUARRY_RETURN_IF_ERROR(txn->Put(
              Table::kVectors, storage::VectorKey(point_id, im.dense[field_idx].config.name),
              storage::EncodeVector(field_vectors[field_idx][first_vector + chunk_idx])));
        }
        QUARRY_RETURN_IF_ERROR(txn->Put(Table::kChanges, EncodeKey64(++seq),
                                        storage::EncodeChange({ChangeOp::kUpsert, point_id})));
        record.point_ids.push_back(point_id);
        ops.push_back({true, point_id, doc_idx, chunk_idx, first_vector + chunk_idx});
        ++stats.chunks_written;
      }
      QUARRY_RETURN_IF_ERROR(txn->Put(Table::kDocs, doc.doc_id, storage::EncodeDocRecord(record)));
    }
    if (ops.empty()) return stats;
    QUARRY_RETURN_IF_ERROR(txn->Put(Table::kMeta, storage::kMetaNextPointId, EncodeU64(next_point)));
    QUARRY_RETURN_IF_ERROR(txn->Put(Table::kMeta, storage::kMetaLastSeq, EncodeU64(seq)));
    QUARRY_RETURN_IF_ERROR(txn->Commit());
  }
  // Durable now. Analyse, then apply to the in-memory index in order.
  std::vector<std::vector<index::WeightedTerm>> terms(ops.size());
  std::vector<float> lengths(ops.size());
  for (size_t op_idx = 0; op_idx < ops.size(); ++op_idx) {
    if (ops[op_idx].add) {
      im.ChunkTerms(prepared[ops[op_idx].doc_idx].chunks[ops[op_idx].chunk_idx], &terms[op_idx],
                    &lengths[op_idx]);
    }
  }
  std::unique_lock lock(im.index_mu);
  for (size_t op_idx = 0; op_idx < ops.size(); ++op_idx) {
    const Op& op = ops[op_idx];
    if (op.add) {
      im.index.Add(op.point_id, terms[op_idx], lengths[op_idx]);
      for (size_t field_idx = 0; field_idx < field_vectors.size(); ++field_idx) {
        Status added = im.dense[field_idx].index->Add(op.point_id,
                                                      field_vectors[field_idx][op.vector_idx]);
        if (!added.ok()) LogWarning("dense index: " + added.ToString());  // checked above
      }
      im.payload_indexes.Add(op.point_id, prepared[op.doc_idx].chunks[op.chunk_idx]);
    } else {
      im.index.Remove(op.point_id);
      for (auto& field : im.dense) field.index->Remove(op.point_id);
      im.payload_indexes.Remove(op.point_id);
      for (auto& field : im.sparse) field.index->Remove(op.point_id);
    }
  }
  im.applied_seq = seq;
  return stats;
}

Result<uint64_t> Collection::Impl::DeleteWhere(
    const std::function<bool(std::string_view doc_id, const DocRecord&)>& match) {
  if (read_only) return Status::FailedPrecondition("collection opened read-only");
  std::lock_guard write_lock(write_mu);
  std::vector<uint64_t> removed;
  uint64_t deleted_docs = 0;
  uint64_t seq = 0;
  {
    QUARRY_ASSIGN_OR_RETURN(auto txn, store->BeginWrite());
    QUARRY_ASSIGN_OR_RETURN(seq, ReadMetaU64(*txn, storage::kMetaLastSeq));
    std::vector<std::pair<std::string, DocRecord>> victims;
    Status status;
    QUARRY_RETURN_IF_ERROR(txn->Scan(Table::kDocs, "", [&](std::string_view key,
                                                           std::string_view value) {
      auto record = storage::DecodeDocRecord(value);
      if (!record.ok()) {
        status = record.status();
        return false;
      }
      if (match(key, *record)) victims.emplace_back(std::string(key), std::move(record).value());
      return true;
    }));
    QUARRY_RETURN_IF_ERROR(status);
    for (auto& [doc_id, record] : victims) {
      for (uint64_t point_id : record.point_ids) {
        QUARRY_RETURN_IF_ERROR(DeletePoint(txn.get(), point_id));
        QUARRY_RETURN_IF_ERROR(txn->Put(Table::kChanges, EncodeKey64(++seq),
                                        storage::EncodeChange({ChangeOp::kDelete, point_id})));
        removed.push_back(point_id);
      }
      QUARRY_RETURN_IF_ERROR(txn->Delete(Table::kDocs, doc_id));
      ++deleted_docs;
    }
    if (deleted_docs == 0) return uint64_t{0};
    QUARRY_RETURN_IF_ERROR(txn->Put(Table::kMeta, storage::kMetaLastSeq, EncodeU64(seq)));
    QUARRY_RETURN_IF_ERROR(txn->Commit());
  }
  std::unique_lock lock(index_mu);
  for (uint64_t point_id : removed) {
    index.Remove(point_id);
    for (auto& field : dense) field.index->Remove(point_id);
    for (auto& field : sparse) field.index->Remove(point_id);
    payload_indexes.Remove(point_id);
  }
  applied_seq = seq;
  return deleted_docs;
}

Result<uint64_t> Collection::DeleteDocument(const std::string& doc_id) {
  QUARRY_ASSIGN_OR_RETURN(uint64_t deleted,
                          impl_->DeleteWhere([&](std::string_view key, const DocRecord&) {
                            return key == doc_id;
                          }));
  if (deleted == 0) return Status::NotFound("no document '" + doc_id + "' in collection '" + name() + "'");
  return deleted;
}

Result<uint64_t> Collection::DeleteBySourcePrefix(const std::string& prefix) {
  if (prefix.empty()) return Status::InvalidArgument("empty source prefix");
  return impl_->DeleteWhere([&](std::string_view, const DocRecord& record) {
    return std::string_view(record.source).starts_with(prefix);
  });
}

std::vector<std::string> Collection::QueryTerms(std::string_view text) const {
  std::vector<std::string> terms;
  impl_->analyzer.Analyze(text, &terms);
  return terms;
}

Result<SearchResponse> Collection::Search(const SearchRequest& request) const {
  const Impl& im = *impl_;
  auto start = std::chrono::steady_clock::now();
  if (request.limit == 0) return Status::InvalidArgument("limit must be at least 1");
  if (request.text.size() > kMaxQueryBytes) {
    return Status::InvalidArgument("query text is longer than " + std::to_string(kMaxQueryBytes) +
                                   " bytes");
  }
  if (request.limit > 10000 || request.offset > 100000) {
    return Status::InvalidArgument("limit must be at most 10000 and offset at most 100000");
  }
  SearchResponse response;
  std::vector<index::ScoredPoint> top;
  // A filter is evaluated on the points the indexes would return, each
  // loaded from the store once; payload indexes narrow the candidates first.
  std::optional<PointFilter> point_filter;
  std::optional<CompiledFilter> compiled_filter;
  std::unique_ptr<storage::Txn> filter_txn;
  std::optional<std::vector<uint64_t>> candidates;
  std::function<bool(uint64_t)> accept;
  const Filter* filter = nullptr;
  std::optional<Filter> resolved_filter;
  if (request.filter.has_value() && !request.filter->empty()) {
    filter = &*request.filter;
    QUARRY_ASSIGN_OR_RETURN(filter_txn, im.store->BeginRead());
    if (FilterHasUuids(*filter)) {
      resolved_filter = *filter;
      QUARRY_RETURN_IF_ERROR(im.ResolveFilterIds(*filter_txn, &*resolved_filter));
      filter = &*resolved_filter;
    }
    QUARRY_ASSIGN_OR_RETURN(compiled_filter, CompiledFilter::Compile(*filter));
  }
  // REQUIRES: index_mu held (the payload indexes are read).
  auto prepare_filter = [&] {
    if (!compiled_filter) return;
    candidates = im.payload_indexes.Candidates(*filter);
    point_filter.emplace(&*compiled_filter, filter_txn.get(), candidates ? &*candidates : nullptr);
    accept = [&point_filter](uint64_t point_id) { return (*point_filter)(point_id); };
  };
  std::optional<std::vector<uint64_t>> among;
  if (request.among.has_value()) {
    among = *request.among;
    std::sort(among->begin(), among->end());
    among->erase(std::unique(among->begin(), among->end()), among->end());
  }
  if (request.sparse.has_value()) {
    const Impl::SparseField* field = im.FindSparse(request.sparse->name);
    if (field == nullptr) {
      return Status::InvalidArgument("collection '" + im.name + "' has no sparse vector '" +
                                     request.sparse->name + "'");
    }
    QUARRY_RETURN_IF_ERROR(CheckSparseVector(request.sparse->vector, request.sparse->name));
    std::shared_lock lock(im.index_mu);
    prepare_filter();
    std::vector<uint64_t> allowed;
    index::SparseFilter sparse_filter;
    if (among) {
      if (candidates) {
        std::set_intersection(among->begin(), among->end(), candidates->begin(), candidates->end(),
                              std::back_inserter(allowed));
        sparse_filter.candidates = &allowed;
      } else {
        sparse_filter.candidates = &*among;
      }
    } else if (candidates) {
      sparse_filter.candidates = &*candidates;
    }
    if (compiled_filter) sparse_filter.accept = &accept;
    QUARRY_ASSIGN_OR_RETURN(
        top, field->index->Search({request.sparse->vector.indices, request.sparse->vector.values},
                                  request.offset + request.limit, sparse_filter));
  } else if (request.vector.has_value() && among.has_value()) {
    const Impl::DenseField* field = im.FindDense(request.vector->name);
    if (field == nullptr) {
      return Status::InvalidArgument("collection '" + im.name + "' has no vector '" +
                                     request.vector->name + "'");
    }
    QUARRY_RETURN_IF_ERROR(CheckVector(request.vector->values, field->config));
    {
      std::shared_lock lock(im.index_mu);
      prepare_filter();
    }
    QUARRY_ASSIGN_OR_RETURN(auto txn, im.store->BeginRead());
    for (uint64_t point_id : *among) {
      auto bytes = txn->Get(Table::kVectors, storage::VectorKey(point_id, field->config.name));
      if (bytes.status().IsNotFound()) continue;  // the point has no such vector
      if (!bytes.ok()) return bytes.status();
      QUARRY_ASSIGN_OR_RETURN(std::vector<float> stored, storage::DecodeVector(*bytes));
      if (stored.size() != field->config.dim) continue;
      if (compiled_filter && !accept(point_id)) continue;
      top.push_back({point_id, ExactSimilarity(field->config.metric, request.vector->values, stored)});
    }
    size_t keep = std::min(top.size(), request.offset + request.limit);
    std::partial_sort(top.begin(), top.begin() + keep, top.end(),
                      [](const index::ScoredPoint& a, const index::ScoredPoint& b) {
                        return a.score != b.score ? a.score > b.score : a.point_id < b.point_id;
                      });
    top.resize(keep);
  } else if (request.vector.has_value()) {
    const Impl::DenseField* field = im.FindDense(request.vector->name);
    if (field == nullptr) {
      std::string known;
      for (const auto& f : im.dense) known += (known.empty() ? "" : ", ") + f.config.name;
      return Status::InvalidArgument("collection '" + im.name + "' has no vector '" +
                                     request.vector->name + "'" +
                                     (known.empty() ? std::string(" (it has none)")
                                                    : " (vectors: " + known + ")"));
    }
    QUARRY_RETURN_IF_ERROR(CheckVector(request.vector->values, field->config));
    if (!(request.oversampling >= 1.0f && request.oversampling <= 100.0f)) {
      return Status::InvalidArgument("oversampling must be in [1, 100]");
    }
    if (request.hnsw_ef > 100000) return Status::InvalidArgument("hnsw_ef must be at most 100000");
    index::dense::DenseSearchParams params;
    params.k = request.offset + request.limit;
    params.ef = request.hnsw_ef;
    params.exact = request.exact;
    params.rescore = request.rescore;
    params.oversampling = request.oversampling;
    std::shared_lock lock(im.index_mu);
    prepare_filter();
    if (compiled_filter) params.filter = &accept;
    QUARRY_ASSIGN_OR_RETURN(auto dense_hits, field->index->Search(request.vector->values, params));
    for (const auto& hit : dense_hits) top.push_back({hit.id, hit.score});
  } else {
    im.analyzer.Analyze(request.text, &response.query_terms);
    std::shared_lock lock(im.index_mu);
    prepare_filter();
    std::vector<uint64_t> allowed;
    if (among && candidates) {
      std::set_intersection(among->begin(), among->end(), candidates->begin(), candidates->end(),
                            std::back_inserter(allowed));
    }
    if (compiled_filter || among) {
      index::Bm25Filter bm25_filter;
      bm25_filter.candidates = among ? (candidates ? &allowed : &*among)
                                     : (candidates ? &*candidates : nullptr);
      if (compiled_filter) bm25_filter.accept = &accept;
      top = im.index.Search(response.query_terms, request.offset + request.limit, bm25_filter);
    } else {
      top = im.index.Search(response.query_terms, request.offset + request.limit);
    }
  }
  if (point_filter) QUARRY_RETURN_IF_ERROR(point_filter->status());
  if (top.size() > request.offset) {
    QUARRY_ASSIGN_OR_RETURN(auto txn, im.store->BeginRead());
    for (size_t rank = request.offset; rank < top.size(); ++rank) {
      SearchHit hit;
      hit.point_id = top[rank].point_id;
      hit.score = top[rank].score;
      if (request.with_text) {
        auto bytes = txn->Get(Table::kPoints, EncodeKey64(hit.point_id));
        if (bytes.status().IsNotFound()) continue;  // deleted after we searched
        if (!bytes.ok()) return bytes.status();
        QUARRY_ASSIGN_OR_RETURN(hit.chunk, storage::DecodeChunk(*bytes));
      }
      response.hits.push_back(std::move(hit));
    }
  }
  response.took_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return response;
}

// --- payload indexes ---------------------------------------------------------

Result<PayloadFieldIndexPtr> Collection::Impl::BuildPayloadIndex(
    const std::string& field, PayloadIndexType type) const {
  QUARRY_ASSIGN_OR_RETURN(auto index, PayloadIndexes::NewField(field, type));
  QUARRY_ASSIGN_OR_RETURN(auto txn, store->BeginRead());
  QUARRY_RETURN_IF_ERROR(ForEachStoredChunk(*txn, [&](uint64_t point_id, const Chunk& chunk) {
    PayloadIndexes::AddTo(index.get(), point_id, chunk);
    return Status::OK();
  }));
  return index;
}

Status Collection::Impl::LoadPayloadIndexes() {
  std::string stored;
  {
    QUARRY_ASSIGN_OR_RETURN(auto txn, store->BeginRead());
    auto value = txn->Get(Table::kMeta, storage::kMetaPayloadIndexes);
    if (value.status().IsNotFound()) return Status::OK();
    if (!value.ok()) return value.status();
    stored = std::string(*value);
  }
  auto json = nlohmann::json::parse(stored, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return Status::Corruption("collection '" + name + "': bad payload index list in meta");
  }
  PayloadIndexes indexes;
  for (auto it = json.begin(); it != json.end(); ++it) {
    if (!it->is_string()) {
      return Status::Corruption("collection '" + name + "': bad payload index type of '" +
                                it.key() + "'");
    }
    auto type = ParsePayloadIndexType(it->get<std::string>());
    if (!type.ok()) return Status::Corruption("collection '" + name + "': " + type.status().message());
    QUARRY_ASSIGN_OR_RETURN(auto field, BuildPayloadIndex(it.key(), *type));
    indexes.Put(std::move(field));
  }
  std::unique_lock lock(index_mu);
  payload_indexes = std::move(indexes);
  return Status::OK();
}

Status Collection::Impl::StorePayloadIndexes(const std::vector<PayloadIndexInfo>& fields) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& f : fields) json[f.field] = PayloadIndexTypeName(f.type);
  QUARRY_ASSIGN_OR_RETURN(auto txn, store->BeginWrite());
  QUARRY_RETURN_IF_ERROR(txn->Put(Table::kMeta, storage::kMetaPayloadIndexes, json.dump()));
  return txn->Commit();
}

Status Collection::CreatePayloadIndex(const std::string& field, PayloadIndexType type) {
  Impl& im = *impl_;
  if (im.read_only) return Status::FailedPrecondition("collection opened read-only");
  std::lock_guard write_lock(im.write_mu);  // no write can slip between the scan and Put
  std::vector<PayloadIndexInfo> fields;
  {
    std::shared_lock lock(im.index_mu);
    fields = im.payload_indexes.Info();
  }
  auto existing = std::find_if(fields.begin(), fields.end(),
                               [&](const PayloadIndexInfo& f) { return f.field == field; });
  if (existing != fields.end() && existing->type == type) return Status::OK();
  QUARRY_ASSIGN_OR_RETURN(auto index, im.BuildPayloadIndex(field, type));
  if (existing != fields.end()) {
    existing->type = type;
  } else {
    fields.push_back({field, type, 0});
  }
  QUARRY_RETURN_IF_ERROR(im.StorePayloadIndexes(fields));
  std::unique_lock lock(im.index_mu);
  im.payload_indexes.Put(std::move(index));
  return Status::OK();
}

Status Collection::DeletePayloadIndex(const std::string& field) {
  Impl& im = *impl_;
  if (im.read_only) return Status::FailedPrecondition("collection opened read-only");
  std::lock_guard write_lock(im.write_mu);
  std::vector<PayloadIndexInfo> fields;
  {
    std::shared_lock lock(im.index_mu);
    fields = im.payload_indexes.Info();
  }
  auto existing = std::find_if(fields.begin(), fields.end(),
                               [&](const PayloadIndexInfo& f) { return f.field == field; });
  if (existing == fields.end()) {
    return Status::NotFound("collection '" + im.name + "' has no payload index on '" + field + "'");
  }
  fields.erase(existing);
  QUARRY_RETURN_IF_ERROR(im.StorePayloadIndexes(fields));
  std::unique_lock lock(im.index_mu);
  im.payload_indexes.Drop(field);
  return Status::OK();
}

Result<std::vector<Chunk>> Collection::GetDocumentChunks(const std::string& doc_id) const {
  QUARRY_ASSIGN_OR_RETURN(auto txn, impl_->store->BeginRead());
  auto bytes = txn->Get(Table::kDocs, doc_id);
  if (bytes.status().IsNotFound()) return Status::NotFound("no document '" + doc_id + "'");
  if (!bytes.ok()) return bytes.status();
  QUARRY_ASSIGN_OR_RETURN(DocRecord record, storage::DecodeDocRecord(*bytes));
  std::vector<Chunk> chunks;
  for (uint64_t point_id : record.point_ids) {
    QUARRY_ASSIGN_OR_RETURN(std::string_view point, txn->Get(Table::kPoints, EncodeKey64(point_id)));
    QUARRY_ASSIGN_OR_RETURN(Chunk chunk, storage::DecodeChunk(point));
    chunks.push_back(std::move(chunk));
  }
  return chunks;
}

Result<std::vector<std::optional<Chunk>>> Collection::GetPoints(
    std::span<const uint64_t> point_ids) const {
  std::vector<std::optional<Chunk>> out(point_ids.size());
  if (point_ids.empty()) return out;
  QUARRY_ASSIGN_OR_RETURN(auto txn, impl_->store->BeginRead());
  for (size_t i = 0; i < point_ids.size(); ++i) {
    auto bytes = txn->Get(Table::kPoints, EncodeKey64(point_ids[i]));
    if (bytes.status().IsNotFound()) continue;
    if (!bytes.ok()) return bytes.status();
    QUARRY_ASSIGN_OR_RETURN(Chunk chunk, storage::DecodeChunk(*bytes));
    out[i] = std::move(chunk);
  }
  return out;
}

Result<std::vector<std::string>> Collection::ListDocumentIds() const {
  QUARRY_ASSIGN_OR_RETURN(auto txn, impl_->store->BeginRead());
  std::vector<std::string> ids;
  QUARRY_RETURN_IF_ERROR(txn->Scan(Table::kDocs, "", [&](std::string_view key, std::string_view) {
    ids.emplace_back(key);
    return true;
  }));
  return ids;
}

Status Collection::Flush() {
  std::lock_guard write_lock(impl_->write_mu);
  return impl_->FlushLocked();
}

CollectionInfo Collection::Info() const {
  const Impl& im = *impl_;
  CollectionInfo info;
  info.name = im.name;
  info.options = im.options;
  info.read_only = im.read_only;
  if (auto txn = im.store->BeginRead(); txn.ok()) {
    info.documents = (*txn)->Count(Table::kDocs).ok() ? *(*txn)->Count(Table::kDocs) : 0;
    info.chunks = (*txn)->Count(Table::kPoints).ok() ? *(*txn)->Count(Table::kPoints) : 0;
    auto last = ReadMetaU64(**txn, storage::kMetaLastSeq);
    info.last_seq = last.ok() ? *last : 0;
  }
  {
    std::lock_guard write_lock(im.write_mu);  // snapshot sequences
    std::shared_lock lock(im.index_mu);
    auto stats = im.index.Stats();
    info.terms = stats.terms;
    info.index_memory_bytes = stats.memory_bytes;
    info.snapshot_seq = im.snapshot_seq;
    for (const auto& field : im.dense) {
      auto dense_stats = field.index->Stats();
      info.dense_vectors.push_back(
          {field.config, dense_stats.vectors, dense_stats.memory_bytes, field.snapshot_seq});
    }
    info.payload_indexes = im.payload_indexes.Info();
    for (const auto& field : im.sparse) {
      auto sparse_stats = field.index->Stats();
      info.sparse_vectors.push_back({field.config, sparse_stats.points, sparse_stats.memory_bytes});
    }
  }
  info.disk_bytes = im.store->Stats().file_bytes;
  std::error_code ec;
  auto snap_size = std::filesystem::file_size(im.dir / kSnapshotFile, ec);
  if (!ec) info.disk_bytes += snap_size;
  for (const char* sub : {"dense", "sparse"}) {
    for (auto it = std::filesystem::recursive_directory_iterator(im.dir / sub, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      std::error_code size_ec;
      if (it->is_regular_file(size_ec)) info.disk_bytes += it->file_size(size_ec);
    }
  }
  return info;
}

}  // namespace quarry
