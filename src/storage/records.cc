#include "storage/records.h"

#include "common/file_util.h"

namespace quarry::storage {
namespace {

constexpr uint8_t kDocVersion = 1;
constexpr uint8_t kChunkVersion = 2;  // 1: without metadata (still read)
constexpr uint8_t kChangeVersion = 1;
constexpr uint8_t kVectorVersion = 1;

void PutString(std::string* out, std::string_view s) {
  PutFixed32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

bool ReadString(ByteReader* reader, std::string* out) {
  uint32_t len;
  std::string_view bytes;
  if (!reader->ReadFixed32(&len) || !reader->ReadBytes(len, &bytes)) return false;
  out->assign(bytes);
  return true;
}

bool ReadVersion(ByteReader* reader, uint8_t expected) {
  std::string_view v;
  return reader->ReadBytes(1, &v) && static_cast<uint8_t>(v[0]) == expected;
}

}  // namespace

std::string EncodeDocRecord(const DocRecord& record) {
  std::string out(1, static_cast<char>(kDocVersion));
  PutString(&out, record.source);
  PutString(&out, record.title);
  PutFixed64(&out, record.content_hash);
  PutFixed64(&out, record.ingested_unix_ms);
  PutFixed32(&out, static_cast<uint32_t>(record.point_ids.size()));
  for (uint64_t id : record.point_ids) PutFixed64(&out, id);
  return out;
}

Result<DocRecord> DecodeDocRecord(std::string_view bytes) {
  ByteReader reader(bytes);
  DocRecord record;
  uint32_t count = 0;
  if (!ReadVersion(&reader, kDocVersion) || !ReadString(&reader, &record.source) ||
      !ReadString(&reader, &record.title) || !reader.ReadFixed64(&record.content_hash) ||
      !reader.ReadFixed64(&record.ingested_unix_ms) || !reader.ReadFixed32(&count) ||
      reader.remaining() != static_cast<size_t>(count) * 8) {
    return Status::Corruption("bad document record");
  }
  record.point_ids.resize(count);
  for (auto& id : record.point_ids) reader.ReadFixed64(&id);
  return record;
}

std::string EncodeChunk(const Chunk& chunk) {
  std::string out(1, static_cast<char>(kChunkVersion));
  PutString(&out, chunk.doc_id);
  PutString(&out, chunk.source);
  PutString(&out, chunk.title);
  PutString(&out, chunk.section);
  PutString(&out, chunk.text);
  PutFixed32(&out, chunk.chunk_index);
  PutFixed64(&out, chunk.begin);
  PutFixed64(&out, chunk.end);
  PutString(&out, chunk.metadata);
  return out;
}

Result<Chunk> DecodeChunk(std::string_view bytes) {
  ByteReader reader(bytes);
  Chunk chunk;
  std::string_view version;
  if (!reader.ReadBytes(1, &version) ||
      (static_cast<uint8_t>(version[0]) != 1 && static_cast<uint8_t>(version[0]) != kChunkVersion) ||
      !ReadString(&reader, &chunk.doc_id) || !ReadString(&reader, &chunk.source) ||
      !ReadString(&reader, &chunk.title) || !ReadString(&reader, &chunk.section) ||
      !ReadString(&reader, &chunk.text) || !reader.ReadFixed32(&chunk.chunk_index) ||
      !reader.ReadFixed64(&chunk.begin) || !reader.ReadFixed64(&chunk.end) ||
      (static_cast<uint8_t>(version[0]) >= 2 && !ReadString(&reader, &chunk.metadata)) ||
      reader.remaining() != 0) {
    return Status::Corruption("bad chunk record");
  }
  return chunk;
}

std::string EncodeChange(const Change& change) {
  std::string out(1, static_cast<char>(kChangeVersion));
  out.push_back(static_cast<char>(change.op));
  PutFixed64(&out, change.point_id);
  return out;
}

Result<Change> DecodeChange(std::string_view bytes) {
  ByteReader reader(bytes);
  std::string_view op;
  Change change;
  if (!ReadVersion(&reader, kChangeVersion) || !reader.ReadBytes(1, &op) ||
      !reader.ReadFixed64(&change.point_id) || reader.remaining() != 0) {
    return Status::Corruption("bad change record");
  }
  change.op = static_cast<ChangeOp>(op[0]);
  if (change.op != ChangeOp::kUpsert && change.op != ChangeOp::kDelete) {
    return Status::Corruption("bad change op");
  }
  return change;
}

std::string VectorKey(uint64_t point_id, std::string_view name) {
  std::string key = EncodeKey64(point_id);
  key.append(name);
  return key;
}

std::string EncodeVector(std::span<const float> values) {
  std::string out(1, static_cast<char>(kVectorVersion));
  PutFixed32(&out, static_cast<uint32_t>(values.size()));
  for (float v : values) PutFloat(&out, v);
  return out;
}

Result<std::vector<float>> DecodeVector(std::string_view bytes) {
  ByteReader reader(bytes);
  uint32_t dim = 0;
  if (!ReadVersion(&reader, kVectorVersion) || !reader.ReadFixed32(&dim) ||
      reader.remaining() != static_cast<size_t>(dim) * 4) {
    return Status::Corruption("bad vector record");
  }
  std::vector<float> values(dim);
  for (auto& v : values) reader.ReadFloat(&v);
  return values;
}

std::string SparseVectorKeyName(std::string_view name) { return "~" + std::string(name); }

std::string EncodeSparseVector(std::span<const uint32_t> indices, std::span<const float> values) {
  std::string out(1, static_cast<char>(kVectorVersion));
  PutFixed32(&out, static_cast<uint32_t>(indices.size()));
  for (uint32_t index : indices) PutFixed32(&out, index);
  for (float v : values) PutFloat(&out, v);
  return out;
}

Result<std::pair<std::vector<uint32_t>, std::vector<float>>> DecodeSparseVector(
    std::string_view bytes) {
  ByteReader reader(bytes);
  uint32_t n = 0;
  if (!ReadVersion(&reader, kVectorVersion) || !reader.ReadFixed32(&n) ||
      reader.remaining() != static_cast<size_t>(n) * 8) {
    return Status::Corruption("bad sparse vector record");
  }
  std::pair<std::vector<uint32_t>, std::vector<float>> out;
  out.first.resize(n);
  out.second.resize(n);
  for (auto& index : out.first) reader.ReadFixed32(&index);
  for (auto& v : out.second) reader.ReadFloat(&v);
  return out;
}

}  // namespace quarry::storage
