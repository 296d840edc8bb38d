// Collection::Impl: the parts behind the public Collection (store, analyzer,
// chunker, BM25 index) and the recovery logic. Internal to src/collection/.
//
// Locking: `write_mu` serialises writers (upsert, delete, flush) end to end;
// `index_mu` guards the in-memory index (shared for searches, exclusive while
// a committed change is applied). Store transactions need no extra locking.
#ifndef QUARRY_COLLECTION_COLLECTION_IMPL_H_
#define QUARRY_COLLECTION_COLLECTION_IMPL_H_

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <shared_mutex>
#include <span>
#include <string>

#include "collection/payload_index.h"
#include "common/file_util.h"
#include "index/dense/dense_index.h"
#include "index/sparse/bm25_index.h"
#include "index/sparse/sparse_vector_index.h"
#include "quarry/collection.h"
#include "storage/lmdb_store.h"
#include "storage/records.h"
#include "text/analyzer.h"
#include "text/chunker.h"

namespace quarry {

nlohmann::json OptionsToJson(const CollectionOptions& options);
Result<CollectionOptions> OptionsFromJson(std::string_view text);
Status ValidateCollectionOptions(const CollectionOptions& options);

// The first half of an upsert (Collection::PrepareUpsert): the documents,
// their content hashes and chunks, and the chunks' dense vectors.
struct PreparedUpsert {
  struct Doc {
    uint64_t hash = 0;
    bool unchanged = false;  // same content hash as the stored document
    std::vector<Chunk> chunks;
  };
  std::vector<Document> docs;
  std::vector<Doc> prepared;  // one per document
  // field_vectors[field][n]: the n-th new chunk's vector, in document order.
  std::vector<std::vector<std::vector<float>>> field_vectors;
};

// Helpers shared by collection.cc and points.cc.
uint64_t NowUnixMs();
std::string EncodeU64(uint64_t v);
Result<uint64_t> ReadMetaU64(const storage::Txn& txn, std::string_view key);
// Checks that metadata is "" or a JSON object within kMaxMetadataBytes, and
// rewrites it compactly.
Status NormalizeMetadata(std::string* metadata);
// Calls fn(point_id, chunk) for every stored chunk, in id order.
Status ForEachStoredChunk(const storage::Txn& txn,
                          const std::function<Status(uint64_t, const Chunk&)>& fn);
Status CheckVector(std::span<const float> values, const DenseVectorConfig& config);
Status CheckSparseVector(const SparseVector& vector, const std::string& name);
// True when a has_id condition names UUIDs (Impl::ResolveFilterIds).
bool FilterHasUuids(const Filter& filter);
// The similarity the dense index ranks by: cosine, inner product, or -L2².
float ExactSimilarity(VectorMetric metric, std::span<const float> a, std::span<const float> b);

struct Collection::Impl {
  Impl(std::string name, std::filesystem::path dir, CollectionOptions options);

  // Opens the store in `dir`; creates the collection with `*create` when it has
  // no config yet (NotFound when create is null). Loads or rebuilds the index.
  static Result<std::unique_ptr<Impl>> Open(const std::string& name,
                                            const std::filesystem::path& dir,
                                            const CollectionOptions* create,
                                            const storage::StoreOptions& store_options);

  // The BM25 terms of a chunk (title boosted, last heading, body) and its length.
  void ChunkTerms(const Chunk& chunk, std::vector<index::WeightedTerm>* terms, float* length) const;
  Status ApplyChunkToIndex(uint64_t point_id, const Chunk& chunk);

  // Snapshot + replay, or a full rebuild when the snapshot can't be trusted.
  Status LoadIndex();
  Status RebuildIndex();
  Status ReplayChanges(const storage::Txn& txn, uint64_t after_seq);
  // REQUIRES: write_mu held (or no other thread has the collection yet).
  Status FlushLocked();

  // One named dense vector: its config, index and snapshot state.
  struct DenseField {
    DenseVectorConfig config;
    std::unique_ptr<index::dense::DenseIndex> index;  // guarded by index_mu
    uint64_t snapshot_seq = 0;                         // guarded by write_mu
  };
  std::filesystem::path DenseDir(const DenseField& field) const {
    return dir / "dense" / field.config.name;
  }
  // Loads the field's snapshot and replays newer changes, or rebuilds it from
  // the vectors table when the snapshot can't be trusted.
  Status LoadDense(DenseField* field, uint64_t last_seq, uint64_t pruned_seq);
  Status RebuildDense(DenseField* field, const storage::Txn& txn);
  Status ReplayDense(DenseField* field, const storage::Txn& txn, uint64_t after_seq);
  DenseField* FindDense(std::string_view name);
  const DenseField* FindDense(std::string_view name) const {
    return const_cast<Impl*>(this)->FindDense(name);
  }
  // One named sparse vector: its index and snapshot state.
  struct SparseField {
    SparseVectorConfig config;
    std::unique_ptr<index::SparseVectorIndex> index;  // guarded by index_mu
    uint64_t snapshot_seq = 0;                         // guarded by write_mu
  };
  std::filesystem::path SparseSnapshotPath(const SparseField& field) const {
    return dir / "sparse" / (field.config.name + ".snap");
  }
  // Loads the field's snapshot and replays newer changes, or rebuilds it from
  // the vectors table when the snapshot can't be trusted.
  Status LoadSparse(SparseField* field, uint64_t last_seq, uint64_t pruned_seq);
  Status RebuildSparse(SparseField* field, const storage::Txn& txn);
  Status ReplaySparse(SparseField* field, const storage::Txn& txn, uint64_t after_seq);
  SparseField* FindSparse(std::string_view name);
  const SparseField* FindSparse(std::string_view name) const {
    return const_cast<Impl*>(this)->FindSparse(name);
  }
  // Deletes a point's chunk and vectors (the caller logs the change).
  Status DeletePoint(storage::Txn* txn, uint64_t point_id);

  // Points API internals (points.cc). The internal id of `id` in `txn`, or
  // NotFound.
  Result<uint64_t> FindPoint(const storage::Txn& txn, const PointId& id) const;
  // Replaces has_id UUIDs with the internal ids they name.
  Status ResolveFilterIds(const storage::Txn& txn, Filter* filter) const;
  // Internal ids of the points `filter` passes, ascending.
  Result<std::vector<uint64_t>> MatchingPoints(const storage::Txn& txn, const Filter& filter) const;
  Result<std::vector<uint64_t>> SelectPoints(const storage::Txn& txn,
                                             const PointSelector& selector) const;
  Result<PointRecord> ReadPointRecord(const storage::Txn& txn, uint64_t point_id, const Chunk& chunk,
                                      bool with_vectors) const;

  Result<uint64_t> DeleteWhere(
      const std::function<bool(std::string_view doc_id, const storage::DocRecord&)>& match);

  // Payload indexes: the fields in meta "payload_indexes" (JSON object field ->
  // type), each built from every stored chunk.
  Status LoadPayloadIndexes();
  Result<PayloadFieldIndexPtr> BuildPayloadIndex(const std::string& field,
                                                 PayloadIndexType type) const;
  // REQUIRES: write_mu held. Writes the indexed fields to meta.
  Status StorePayloadIndexes(const std::vector<PayloadIndexInfo>& fields);

  const std::string name;
  const std::filesystem::path dir;
  const CollectionOptions options;
  bool read_only = false;
  std::unique_ptr<FileLock> writer_lock;  // held while writable (one writer process)
  std::unique_ptr<storage::LmdbStore> store;
  text::Analyzer analyzer;
  text::Chunker chunker;

  mutable std::mutex write_mu;
  mutable std::shared_mutex index_mu;
  index::Bm25Index index;     // guarded by index_mu
  std::vector<DenseField> dense;  // one per configured dense vector, fixed at open
  std::vector<SparseField> sparse;  // one per configured sparse vector, fixed at open
  PayloadIndexes payload_indexes;  // guarded by index_mu (changing the set: also write_mu)
  // Store seq the index reflects: written under index_mu (exclusive), read
  // without it by version().
  std::atomic<uint64_t> applied_seq{0};
  std::string uid;            // random at creation (meta "uid"); see Collection::uid()
  uint64_t snapshot_seq = 0;  // seq of the snapshot on disk; guarded by write_mu
};

}  // namespace quarry

#endif  // QUARRY_COLLECTION_COLLECTION_IMPL_H_
