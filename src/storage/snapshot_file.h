// Snapshot files: the framing of every derived-state file Quarry writes (index
// snapshots). Format (little-endian), documented in docs/FORMATS.md:
//
//   magic    8 bytes  "QRYSNAP1"
//   kind     u32      what the payload is (SnapshotKind)
//   version  u32      payload format version, owned by the payload's writer
//   seq      u64      the store change sequence the payload covers
//   length   u64      payload length in bytes
//   payload  length bytes
//   crc      u32      CRC-32C of every byte above
//
// Written atomically (temp file, fsync, rename, fsync dir): a crash leaves the
// old file or the new one. A torn, truncated or bit-flipped file is detected by
// ParseSnapshot and reported as Corruption; callers rebuild instead of trusting it.
//
// Thread-safety: reentrant functions.
#ifndef QUARRY_STORAGE_SNAPSHOT_FILE_H_
#define QUARRY_STORAGE_SNAPSHOT_FILE_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "quarry/status.h"

namespace quarry::storage {

enum class SnapshotKind : uint32_t {
  kBm25Index = 1,
  kSparseVectorIndex = 2,
};

struct Snapshot {
  SnapshotKind kind = SnapshotKind::kBm25Index;
  uint32_t version = 0;
  uint64_t seq = 0;
  std::string payload;
};

inline constexpr size_t kSnapshotHeaderSize = 8 + 4 + 4 + 8 + 8;
inline constexpr size_t kSnapshotTrailerSize = 4;

std::string EncodeSnapshot(const Snapshot& snapshot);
// Validates magic, kind, length and checksum. Never trusts the length field.
Result<Snapshot> ParseSnapshot(std::string_view bytes, SnapshotKind expected_kind);

Status WriteSnapshotFile(const std::filesystem::path& path, const Snapshot& snapshot);
// NotFound when the file does not exist; Corruption when it is not a valid snapshot.
Result<Snapshot> ReadSnapshotFile(const std::filesystem::path& path, SnapshotKind expected_kind);

}  // namespace quarry::storage

#endif  // QUARRY_STORAGE_SNAPSHOT_FILE_H_
