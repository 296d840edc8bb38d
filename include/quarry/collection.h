// Collection: a named set of documents, split into chunks, searchable by BM25.
//
// Writes go to the durable store first (LMDB); the in-memory BM25 index is
// derived state, applied after the commit and snapshotted to `bm25.snap`. On
// open, the newest valid snapshot is loaded and newer changes are replayed; a
// missing, torn or corrupt snapshot is rebuilt from the store.
//
// Thread-safety: all methods may be called concurrently. Searches run in
// parallel with each other; writes are serialised and exclude searches only
// while the in-memory index is being updated.
#ifndef QUARRY_COLLECTION_H_
#define QUARRY_COLLECTION_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "quarry/points.h"
#include "quarry/query.h"
#include "quarry/status.h"
#include "quarry/types.h"

namespace quarry {

enum class VectorMetric { kCosine, kDot, kL2 };
enum class VectorQuantization { kNone, kInt8, kBinary };  // kNone = float32 codes

// A named dense vector of every chunk (Qdrant's named vectors), indexed by HNSW
// over (optionally quantised) codes with exact rescoring.
struct DenseVectorConfig {
  std::string name;
  size_t dim = 0;
  VectorMetric metric = VectorMetric::kCosine;
  VectorQuantization quantization = VectorQuantization::kNone;
  uint32_t hnsw_m = 16;
  uint32_t hnsw_ef_construction = 128;
  uint32_t hnsw_ef_search = 64;  // default per query
};

// A named sparse vector of points (Qdrant's sparse_vectors): an inverted
// index scored by dot product. With `idf`, each query dimension's weight is
// multiplied by ln(1 + (N - n + 0.5) / (n + 0.5)) over the N points that have
// this vector, n of them with the dimension (Qdrant's `modifier: idf`).
struct SparseVectorConfig {
  std::string name;
  bool idf = false;
};

// Computes the named vectors of chunks before they are stored (a local model,
// a remote API, or a test stub). Called outside the store transaction.
class ChunkEmbedder {
 public:
  virtual ~ChunkEmbedder() = default;
  // Fills `vectors` with one vector of `config.dim` floats per chunk, in order.
  virtual Status Embed(const std::vector<const Chunk*>& chunks, const DenseVectorConfig& config,
                       std::vector<std::vector<float>>* vectors) = 0;
};

// Fixed at creation and stored with the collection.
struct CollectionOptions {
  size_t chunk_max_tokens = 256;   // chunk budget in (approximate) word pieces
  size_t chunk_overlap_tokens = 32;
  float bm25_k1 = 0.9f;            // defaults; overridable per query
  float bm25_b = 0.4f;
  float title_boost = 1.0f;        // weight of title terms relative to body terms
  bool stem = true;
  bool remove_stop_words = true;
  std::vector<DenseVectorConfig> dense_vectors;  // none: BM25 only
  std::vector<SparseVectorConfig> sparse_vectors = {};  // names distinct from the dense ones
  // Defaults of hybrid text searches (search::SearchText) that name none:
  // RRF's k (0: Qdrant's 2) and the (dense, sparse) fusion weights (empty:
  // equal). Plain RRF of BM25 and a strong dense model can score below the
  // dense model alone; a collection can carry the weights that suit it.
  int rrf_k = 0;
  std::vector<float> fusion_weights = {};
};

struct DenseVectorInfo {
  DenseVectorConfig config;
  uint64_t vectors = 0;
  uint64_t memory_bytes = 0;    // heap of the dense index
  uint64_t snapshot_seq = 0;
};

// Payload indexes (Qdrant's field_schema names): value -> points maps over
// one payload key, kept in memory, that let filtered searches start from the
// points a condition allows. keyword: string values (match, match any);
// integer: integer values (match, match any, range); float: numbers (range);
// bool: booleans (match). An index never changes what a search returns, only
// how fast.
enum class PayloadIndexType { kKeyword, kInteger, kFloat, kBool };
std::string_view PayloadIndexTypeName(PayloadIndexType type);  // "keyword", ...
Result<PayloadIndexType> ParsePayloadIndexType(std::string_view name);

struct PayloadIndexInfo {
  std::string field;  // the key path, as given
  PayloadIndexType type = PayloadIndexType::kKeyword;
  uint64_t points = 0;  // points with at least one indexed value
};

struct SparseVectorInfo {
  SparseVectorConfig config;
  uint64_t vectors = 0;
  uint64_t memory_bytes = 0;
};

struct CollectionInfo {
  std::string name;
  uint64_t documents = 0;
  uint64_t chunks = 0;
  uint64_t terms = 0;              // distinct BM25 terms
  uint64_t last_seq = 0;           // change sequence of the store
  uint64_t snapshot_seq = 0;       // sequence covered by the index snapshot on disk
  uint64_t disk_bytes = 0;         // store + snapshot files
  uint64_t index_memory_bytes = 0; // in-memory BM25 index
  CollectionOptions options;
  bool read_only = false;          // opened read-only (another process writes it)
  std::vector<DenseVectorInfo> dense_vectors;
  std::vector<PayloadIndexInfo> payload_indexes = {};  // by field name
  std::vector<SparseVectorInfo> sparse_vectors = {};
};

// What happened to each document of an upsert.
struct UpsertStats {
  uint64_t added = 0;      // new documents
  uint64_t replaced = 0;   // same key, changed content: old chunks removed
  uint64_t unchanged = 0;  // same key, same content hash: nothing written
  uint64_t chunks_written = 0;
  uint64_t chunks_deleted = 0;
};

// What Collection::PrepareUpsert computed, waiting for CommitUpsert.
struct PreparedUpsert;
struct PreparedUpsertDeleter {
  void operator()(PreparedUpsert* prepared) const;
};
using PreparedUpsertPtr = std::unique_ptr<PreparedUpsert, PreparedUpsertDeleter>;

class Collection {
 public:
  ~Collection();
  Collection(const Collection&) = delete;
  Collection& operator=(const Collection&) = delete;

  const std::string& name() const;
  const CollectionOptions& options() const;
  // Identifies this collection across processes and re-creations: random at
  // creation and stored with it. A dropped and re-created collection of the
  // same name has another uid.
  const std::string& uid() const;
  // Grows with every write that changes what searches see (the store's change
  // sequence the indexes reflect). (uid, version) names the collection's
  // contents exactly: caches key search results by it.
  uint64_t version() const;

  // Chunks, stores and indexes `docs` in one durable transaction: when this
  // returns OK every document is stored; on error none of them is. A document
  // whose doc_id exists is replaced (or left alone when its content is equal).
  // With an `embedder`, every chunk also gets each of the collection's dense
  // vectors (stored in the same transaction); without one, chunks have none.
  Result<UpsertStats> Upsert(std::vector<Document> docs, ChunkEmbedder* embedder = nullptr);
  // Upsert in two halves, so that a pipeline can embed one batch while the
  // previous one commits. PrepareUpsert validates, hashes, chunks and embeds
  // (documents whose content is unchanged are neither chunked nor embedded);
  // it takes no lock and may run beside writes. CommitUpsert writes and
  // indexes what was prepared, as Upsert does, re-checking each document
  // against the store (a document written meanwhile with equal content is
  // left alone).
  Result<PreparedUpsertPtr> PrepareUpsert(std::vector<Document> docs,
                                          ChunkEmbedder* embedder = nullptr) const;
  Result<UpsertStats> CommitUpsert(PreparedUpsertPtr prepared);

  // Removes a document and its chunks. NotFound when there is no such doc_id.
  Result<uint64_t> DeleteDocument(const std::string& doc_id);
  // Removes every document whose source starts with `prefix`; returns how many.
  Result<uint64_t> DeleteBySourcePrefix(const std::string& prefix);

  Result<SearchResponse> Search(const SearchRequest& request) const;
  // Indexes payload key `field` (a key path, see quarry/query.h) for filtered
  // searches; stored with the collection and rebuilt from the chunks at open.
  // An existing index of the field is replaced (equal type: nothing to do).
  Status CreatePayloadIndex(const std::string& field, PayloadIndexType type);
  // NotFound when the field has no index.
  Status DeletePayloadIndex(const std::string& field);
  // The BM25 terms a text query searches for (analysed as Search does).
  std::vector<std::string> QueryTerms(std::string_view text) const;
  // The stored document record's chunks, in order (for `quarry info`, tests).
  Result<std::vector<Chunk>> GetDocumentChunks(const std::string& doc_id) const;
  // All doc ids, sorted.
  Result<std::vector<std::string>> ListDocumentIds() const;
  // The chunks stored under `point_ids`, in order; nullopt for a point that
  // does not exist (never written, or deleted since it was found).
  Result<std::vector<std::optional<Chunk>>> GetPoints(std::span<const uint64_t> point_ids) const;

  // ---- Points (Qdrant's model, see quarry/points.h) ----
  // Stores `points` in one durable transaction (all or none). An existing id
  // is replaced; an equal point (same payload and vectors) is left alone.
  // Every vector must be one of the collection's, with the right dimension and
  // finite values; a point may lack any of them.
  Result<UpsertStats> UpsertPoints(std::vector<PointStruct> points);
  // One entry per id, in order; nullopt for an id with no point.
  Result<std::vector<std::optional<PointRecord>>> RetrievePoints(std::span<const PointId> ids,
                                                                 bool with_vectors) const;
  // The same by internal ids (search hits).
  Result<std::vector<std::optional<PointRecord>>> RetrieveByPointIds(
      std::span<const uint64_t> point_ids, bool with_vectors) const;
  // Deletes the selected points (a document chunk alone: its document loses
  // it); returns how many existed.
  Result<uint64_t> DeletePoints(const PointSelector& selector);
  // Changes the payload of the selected points; returns how many changed.
  Result<uint64_t> UpdatePayload(const PointSelector& selector, const PayloadUpdate& update);
  Result<ScrollPage> Scroll(const ScrollRequest& request) const;
  // Points the filter passes (every point without one).
  Result<uint64_t> CountPoints(const std::optional<Filter>& filter) const;
  // The internal ids of those of `ids` that exist, in order.
  Result<std::vector<uint64_t>> ResolvePointIds(std::span<const PointId> ids) const;

  // Writes the index snapshot if it is behind the store, then prunes the change
  // log it covers. Called by ingest at the end and every so many changes.
  Status Flush();

  CollectionInfo Info() const;

 private:
  friend class Engine;
  struct Impl;
  explicit Collection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Ingest of files and folders into a collection.
struct IngestOptions {
  size_t batch_documents = 256;     // documents per durable transaction
  uint64_t max_file_bytes = 256ull << 20;
  uint64_t flush_every_changes = 200000;  // snapshot the index this often
  size_t loader_threads = 0;  // threads reading and parsing files; 0 = one per core, at most 4
  // Only files with these extensions (without the dot, lower case) are taken
  // from folders; empty = every supported format. Files named explicitly are
  // always taken.
  std::vector<std::string> extensions;
  // Computes the collection's dense vectors for new chunks (a local model);
  // null: BM25 only. Not owned; must outlive the ingest.
  ChunkEmbedder* embedder = nullptr;
};

struct IngestProgress {
  uint64_t files_seen = 0;       // files found by the walk so far
  uint64_t files_done = 0;
  uint64_t documents = 0;        // documents committed
  uint64_t chunks = 0;           // chunks written
  uint64_t unchanged = 0;        // documents skipped as unchanged
  uint64_t replaced = 0;
  uint64_t bytes = 0;            // bytes of input read
  uint64_t skipped_files = 0;    // unreadable, binary, empty, too large
  uint64_t unsupported_files = 0;  // in folders, with no loader for their format
  uint64_t bad_lines = 0;        // JSONL lines skipped
  double elapsed_s = 0.0;
  bool walk_done = false;
  std::vector<std::string> first_errors;  // up to 10 "path: reason"
};

// Walks `paths` (files and folders, recursively; hidden entries skipped),
// loads every supported file and upserts its documents in batches. Files are
// keyed by their absolute path. Bad files are skipped and reported in the
// progress, never fatal; a storage error (disk full) stops the ingest with
// that error after keeping everything committed before it. `on_progress` is
// called after every batch and at the end.
Status IngestPaths(Collection* collection, const std::vector<std::filesystem::path>& paths,
                   const IngestOptions& options,
                   const std::function<void(const IngestProgress&)>& on_progress,
                   IngestProgress* final_progress);

}  // namespace quarry

#endif  // QUARRY_COLLECTION_H_
