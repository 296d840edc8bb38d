#include "storage/snapshot_file.h"

#include <cstring>

#include "common/crc32c.h"
#include "common/file_util.h"

namespace quarry::storage {
namespace {
constexpr char kMagic[8] = {'Q', 'R', 'Y', 'S', 'N', 'A', 'P', '1'};
}  // namespace

std::string EncodeSnapshot(const Snapshot& snapshot) {
  std::string out;
  out.reserve(kSnapshotHeaderSize + snapshot.payload.size() + kSnapshotTrailerSize);
  out.append(kMagic, sizeof(kMagic));
  PutFixed32(&out, static_cast<uint32_t>(snapshot.kind));
  PutFixed32(&out, snapshot.version);
  PutFixed64(&out, snapshot.seq);
  PutFixed64(&out, snapshot.payload.size());
  out.append(snapshot.payload);
  PutFixed32(&out, Crc32c(out));
  return out;
}

Result<Snapshot> ParseSnapshot(std::string_view bytes, SnapshotKind expected_kind) {
  if (bytes.size() < kSnapshotHeaderSize + kSnapshotTrailerSize) {
    return Status::Corruption("snapshot truncated: " + std::to_string(bytes.size()) + " bytes");
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return Status::Corruption("not a Quarry snapshot (bad magic)");
  }
  ByteReader reader(bytes.substr(sizeof(kMagic)));
  uint32_t kind = 0;
  Snapshot snapshot;
  uint64_t length = 0;
  reader.ReadFixed32(&kind);
  reader.ReadFixed32(&snapshot.version);
  reader.ReadFixed64(&snapshot.seq);
  reader.ReadFixed64(&length);
  if (kind != static_cast<uint32_t>(expected_kind)) {
    return Status::Corruption("snapshot kind " + std::to_string(kind) + ", expected " +
                              std::to_string(static_cast<uint32_t>(expected_kind)));
  }
  if (length != bytes.size() - kSnapshotHeaderSize - kSnapshotTrailerSize) {
    return Status::Corruption("snapshot length field " + std::to_string(length) +
                              " does not match file size " + std::to_string(bytes.size()));
  }
  size_t body = bytes.size() - kSnapshotTrailerSize;
  uint32_t stored_crc = DecodeFixed32(bytes.data() + body);
  if (Crc32c(bytes.substr(0, body)) != stored_crc) {
    return Status::Corruption("snapshot checksum mismatch");
  }
  snapshot.kind = expected_kind;
  snapshot.payload.assign(bytes.substr(kSnapshotHeaderSize, length));
  return snapshot;
}

Status WriteSnapshotFile(const std::filesystem::path& path, const Snapshot& snapshot) {
  return WriteFileAtomic(path, EncodeSnapshot(snapshot));
}

Result<Snapshot> ReadSnapshotFile(const std::filesystem::path& path, SnapshotKind expected_kind) {
  QUARRY_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  auto parsed = ParseSnapshot(bytes, expected_kind);
  if (!parsed.ok()) return parsed.status().WithContext(path.string());
  return parsed;
}

}  // namespace quarry::storage
