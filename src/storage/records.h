// Records stored in LmdbStore tables, and their binary encodings.
//
// Every record starts with a one-byte format version; strings are u32 length +
// bytes; integers little-endian. Decoders validate lengths and return
// Corruption on any inconsistency (they are fed bytes from disk).
//
// Thread-safety: pure functions.
#ifndef QUARRY_STORAGE_RECORDS_H_
#define QUARRY_STORAGE_RECORDS_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "quarry/status.h"
#include "quarry/types.h"

namespace quarry::storage {

// docs table: key = doc_id.
struct DocRecord {
  std::string source;
  std::string title;
  uint64_t content_hash = 0;
  uint64_t ingested_unix_ms = 0;
  std::vector<uint64_t> point_ids;
};

enum class ChangeOp : uint8_t { kUpsert = 1, kDelete = 2 };

// changes table: key = EncodeKey64(seq).
struct Change {
  ChangeOp op = ChangeOp::kUpsert;
  uint64_t point_id = 0;
};

std::string EncodeDocRecord(const DocRecord& record);
Result<DocRecord> DecodeDocRecord(std::string_view bytes);

// points table: key = EncodeKey64(point_id), value = the chunk. Written as
// version 2 (with metadata); version 1 records (before metadata) decode with
// empty metadata.
std::string EncodeChunk(const Chunk& chunk);
Result<Chunk> DecodeChunk(std::string_view bytes);

std::string EncodeChange(const Change& change);
Result<Change> DecodeChange(std::string_view bytes);

// vectors table: key = EncodeKey64(point_id) + vector name; value = u8
// version, u32 dim, dim little-endian floats.
std::string VectorKey(uint64_t point_id, std::string_view name);
std::string EncodeVector(std::span<const float> values);
Result<std::vector<float>> DecodeVector(std::string_view bytes);

// Sparse vectors share the vectors table: key = EncodeKey64(point_id) +
// SparseVectorKeyName(name) (a '~' before the name, which dense names never
// start with); value = u8 version, u32 n, n u32 indices, n floats.
std::string SparseVectorKeyName(std::string_view name);
std::string EncodeSparseVector(std::span<const uint32_t> indices, std::span<const float> values);
Result<std::pair<std::vector<uint32_t>, std::vector<float>>> DecodeSparseVector(std::string_view bytes);

// Well-known meta keys.
inline constexpr std::string_view kMetaConfig = "config";          // JSON
inline constexpr std::string_view kMetaNextPointId = "next_point";  // u64
inline constexpr std::string_view kMetaNextUuidPointId = "next_uuid_point";  // u64, >= 2^63
inline constexpr std::string_view kMetaLastSeq = "last_seq";        // u64
inline constexpr std::string_view kMetaPrunedSeq = "pruned_seq";    // u64: changes <= are gone
inline constexpr std::string_view kMetaUid = "uid";                 // 32 hex digits, random
inline constexpr std::string_view kMetaPayloadIndexes = "payload_indexes";  // JSON {field: type}

}  // namespace quarry::storage

#endif  // QUARRY_STORAGE_RECORDS_H_
