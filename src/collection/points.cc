// The points API of Collection (quarry/points.h): Qdrant-style points with
// caller-given ids, vectors and payloads, stored beside documents' chunks.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <unordered_set>

#include "collection/collection_impl.h"
#include "collection/filter.h"
#include "common/file_util.h"
#include "common/hash.h"
#include "common/log.h"

namespace quarry {

using nlohmann::json;
using storage::Change;
using storage::ChangeOp;
using storage::DocRecord;
using storage::Table;

std::string PointDocKey(const PointId& id) {
  return std::string(1, kPointKeyMark) + (id.is_uuid() ? "u" + id.uuid : std::to_string(id.num));
}

PointId ExternalPointId(uint64_t point_id, const Chunk& chunk) {
  if (IsApiPoint(chunk) && chunk.doc_id.size() > 2 && chunk.doc_id[1] == 'u') {
    return PointId{point_id, chunk.doc_id.substr(2)};
  }
  return PointId::Num(point_id);
}

bool FilterHasUuids(const Filter& filter) {
  for (const auto* list : {&filter.must, &filter.should, &filter.must_not}) {
    for (const Condition& condition : *list) {
      if (const auto* has_id = std::get_if<HasIdCondition>(&condition.value)) {
        if (!has_id->uuids.empty()) return true;
      } else if (const auto* nested = std::get_if<Filter>(&condition.value)) {
        if (FilterHasUuids(*nested)) return true;
      }
    }
  }
  return false;
}

namespace {

// The chunk a point is stored as: its payload as metadata, and a string
// "text" in it as the text BM25 indexes.
Chunk PointChunk(const PointId& id, const std::string& payload, const json& parsed) {
  Chunk chunk;
  chunk.doc_id = PointDocKey(id);
  chunk.metadata = payload;
  if (parsed.is_object()) {
    auto text = parsed.find("text");
    if (text != parsed.end() && text->is_string()) chunk.text = text->get<std::string>();
  }
  chunk.end = chunk.text.size();
  return chunk;
}

json ParsePayload(const std::string& payload) {
  if (payload.empty()) return json::object();
  auto parsed = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  return parsed.is_object() ? parsed : json::object();
}

uint64_t PointHash(const PointStruct& point) {
  uint64_t hash = Hash64(point.payload, 0x51a7e);
  for (const auto& [name, values] : point.vectors) {
    hash = Hash64(name, hash);
    hash = Hash64(std::string_view(reinterpret_cast<const char*>(values.data()), values.size() * 4), hash);
  }
  for (const auto& [name, vector] : point.sparse_vectors) {
    hash = Hash64("~" + name, hash);
    hash = Hash64(std::string_view(reinterpret_cast<const char*>(vector.indices.data()),
                                   vector.indices.size() * 4),
                  hash);
    hash = Hash64(std::string_view(reinterpret_cast<const char*>(vector.values.data()),
                                   vector.values.size() * 4),
                  hash);
  }
  return hash == 0 ? 1 : hash;  // 0 means "rewrite on the next upsert"
}

}  // namespace

Result<uint64_t> Collection::Impl::FindPoint(const storage::Txn& txn, const PointId& id) const {
  auto record_bytes = txn.Get(Table::kDocs, PointDocKey(id));
  if (record_bytes.ok()) {
    QUARRY_ASSIGN_OR_RETURN(DocRecord record, storage::DecodeDocRecord(*record_bytes));
    if (record.point_ids.size() == 1) return record.point_ids[0];
    return Status::Corruption("point " + id.ToString() + " has a bad record");
  }
  if (!record_bytes.status().IsNotFound()) return record_bytes.status();
  if (!id.is_uuid()) {  // a chunk of a document, named by its internal id
    auto chunk = txn.Get(Table::kPoints, EncodeKey64(id.num));
    if (chunk.ok()) return id.num;
    if (!chunk.status().IsNotFound()) return chunk.status();
  }
  return Status::NotFound("no point " + id.ToString());
}

Status Collection::Impl::ResolveFilterIds(const storage::Txn& txn, Filter* filter) const {
  for (auto* list : {&filter->must, &filter->should, &filter->must_not}) {
    for (Condition& condition : *list) {
      if (auto* has_id = std::get_if<HasIdCondition>(&condition.value)) {
        for (const std::string& uuid : has_id->uuids) {
          auto point_id = FindPoint(txn, PointId{0, uuid});
          if (point_id.ok()) {
            has_id->ids.push_back(*point_id);
          } else if (!point_id.status().IsNotFound()) {
            return point_id.status();
          }
        }
        has_id->uuids.clear();
      } else if (auto* nested = std::get_if<Filter>(&condition.value)) {
        QUARRY_RETURN_IF_ERROR(ResolveFilterIds(txn, nested));
      }
    }
  }
  return Status::OK();
}

Result<std::vector<uint64_t>> Collection::Impl::MatchingPoints(const storage::Txn& txn,
                                                               const Filter& filter_in) const {
  Filter filter = filter_in;
  if (FilterHasUuids(filter)) QUARRY_RETURN_IF_ERROR(ResolveFilterIds(txn, &filter));
  QUARRY_ASSIGN_OR_RETURN(CompiledFilter compiled, CompiledFilter::Compile(filter));
  std::optional<std::vector<uint64_t>> candidates;
  {
    std::shared_lock lock(index_mu);
    candidates = payload_indexes.Candidates(filter);
  }
  std::vector<uint64_t> out;
  if (candidates) {
    for (uint64_t point_id : *candidates) {
      auto bytes = txn.Get(Table::kPoints, EncodeKey64(point_id));
      if (bytes.status().IsNotFound()) continue;
      if (!bytes.ok()) return bytes.status();
      QUARRY_ASSIGN_OR_RETURN(Chunk chunk, storage::DecodeChunk(*bytes));
      if (compiled.Matches(point_id, chunk)) out.push_back(point_id);
    }
    return out;
  }
  QUARRY_RETURN_IF_ERROR(ForEachStoredChunk(txn, [&](uint64_t point_id, const Chunk& chunk) {
    if (compiled.Matches(point_id, chunk)) out.push_back(point_id);
    return Status::OK();
  }));
  return out;
}

Result<std::vector<uint64_t>> Collection::Impl::SelectPoints(const storage::Txn& txn,
                                                             const PointSelector& selector) const {
  if (selector.filter.has_value()) return MatchingPoints(txn, *selector.filter);
  std::vector<uint64_t> out;
  for (const PointId& id : selector.ids) {
    auto point_id = FindPoint(txn, id);
    if (point_id.ok()) {
      out.push_back(*point_id);
    } else if (!point_id.status().IsNotFound()) {
      return point_id.status();
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<PointRecord> Collection::Impl::ReadPointRecord(const storage::Txn& txn, uint64_t point_id,
                                                      const Chunk& chunk, bool with_vectors) const {
  PointRecord record;
  record.id = ExternalPointId(point_id, chunk);
  record.point_id = point_id;
  record.chunk = chunk;
  if (!with_vectors) return record;
  for (const auto& config : options.dense_vectors) {
    auto bytes = txn.Get(Table::kVectors, storage::VectorKey(point_id, config.name));
    if (bytes.status().IsNotFound()) continue;
    if (!bytes.ok()) return bytes.status();
    QUARRY_ASSIGN_OR_RETURN(auto values, storage::DecodeVector(*bytes));
    record.vectors.emplace_back(config.name, std::move(values));
  }
  for (const auto& config : options.sparse_vectors) {
    auto bytes = txn.Get(Table::kVectors,
                         storage::VectorKey(point_id, storage::SparseVectorKeyName(config.name)));
    if (bytes.status().IsNotFound()) continue;
    if (!bytes.ok()) return bytes.status();
    QUARRY_ASSIGN_OR_RETURN(auto decoded, storage::DecodeSparseVector(*bytes));
    record.sparse_vectors.emplace_back(
        config.name, SparseVector{std::move(decoded.first), std::move(decoded.second)});
  }
  return record;
}

// ---------------------------------------------------------------------------

Result<UpsertStats> Collection::UpsertPoints(std::vector<PointStruct> points) {
  Impl& im = *impl_;
  if (im.read_only) return Status::FailedPrecondition("collection opened read-only");
  UpsertStats stats;
  // Validate and prepare everything before the write transaction. A later
  // point with the same id replaces an earlier one (as separate upserts would).
  std::vector<json> payloads(points.size());
  std::vector<uint64_t> hashes(points.size());
  std::vector<bool> superseded(points.size(), false);
  {
    std::unordered_map<std::string, size_t> last;
    for (size_t idx = 0; idx < points.size(); ++idx) {
      PointStruct& point = points[idx];
      const std::string where = "point " + point.id.ToString();
      if (point.id.is_uuid()) {
        QUARRY_ASSIGN_OR_RETURN(point.id.uuid, CanonicalUuid(point.id.uuid));
      }
      QUARRY_RETURN_IF_ERROR(NormalizeMetadata(&point.payload).WithContext(where + ": payload"));
      payloads[idx] = ParsePayload(point.payload);
      for (auto& [name, values] : point.vectors) {
        const Impl::DenseField* field = im.FindDense(name);
        if (field == nullptr) {
          return Status::InvalidArgument(where + ": the collection has no dense vector '" + name + "'");
        }
        QUARRY_RETURN_IF_ERROR(CheckVector(values, field->config).WithContext(where));
        if (field->config.metric == VectorMetric::kCosine) {  // stored normalised, as Qdrant does
          double norm = 0;
          for (float v : values) norm += static_cast<double>(v) * v;
          if (norm > 0) {
            const double inv = 1.0 / std::sqrt(norm);
            for (float& v : values) v = static_cast<float>(v * inv);
          }
        }
      }
      for (size_t a = 0; a < point.vectors.size(); ++a) {
        for (size_t b = 0; b < a; ++b) {
          if (point.vectors[a].first == point.vectors[b].first) {
            return Status::InvalidArgument(where + ": vector '" + point.vectors[a].first + "' given twice");
          }
        }
      }
      for (auto& [name, vector] : point.sparse_vectors) {
        if (im.FindSparse(name) == nullptr) {
          return Status::InvalidArgument(where + ": the collection has no sparse vector '" + name + "'");
        }
        QUARRY_RETURN_IF_ERROR(CheckSparseVector(vector, name).WithContext(where));
      }
      std::sort(point.vectors.begin(), point.vectors.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      std::sort(point.sparse_vectors.begin(), point.sparse_vectors.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      hashes[idx] = PointHash(point);
      auto [it, inserted] = last.try_emplace(PointDocKey(point.id), idx);
      if (!inserted) {
        superseded[it->second] = true;
        it->second = idx;
      }
    }
  }
  std::lock_guard write_lock(im.write_mu);
  struct Op {
    bool add;
    uint64_t point_id;
    size_t point_idx;
  };
  std::vector<Op> ops;
  std::vector<Chunk> chunks(points.size());
  uint64_t seq = 0;
  {
    QUARRY_ASSIGN_OR_RETURN(auto txn, im.store->BeginWrite());
    QUARRY_ASSIGN_OR_RETURN(seq, ReadMetaU64(*txn, storage::kMetaLastSeq));
    QUARRY_ASSIGN_OR_RETURN(uint64_t next_uuid_point, ReadMetaU64(*txn, storage::kMetaNextUuidPointId));
    if (next_uuid_point < kFirstUuidPointId) next_uuid_point = kFirstUuidPointId;
    const uint64_t now = NowUnixMs();
    for (size_t idx = 0; idx < points.size(); ++idx) {
      if (superseded[idx]) continue;
      const PointStruct& point = points[idx];
      const std::string key = PointDocKey(point.id);
      uint64_t point_id = 0;
      auto existing = txn->Get(Table::kDocs, key);
      if (existing.ok()) {
        QUARRY_ASSIGN_OR_RETURN(DocRecord old, storage::DecodeDocRecord(*existing));
        if (old.content_hash == hashes[idx]) {
          ++stats.unchanged;
          continue;
        }
        if (old.point_ids.size() != 1) return Status::Corruption("point " + point.id.ToString() + " has a bad record");
        point_id = old.point_ids[0];
        QUARRY_RETURN_IF_ERROR(im.DeletePoint(txn.get(), point_id));
        QUARRY_RETURN_IF_ERROR(txn->Put(Table::kChanges, EncodeKey64(++seq),
                                        storage::EncodeChange({ChangeOp::kDelete, point_id})));
        ops.push_back({false, point_id, idx});
        ++stats.replaced;
        ++stats.chunks_deleted;
      } else if (!existing.status().IsNotFound()) {
        return existing.status();
      } else {
        if (point.id.is_uuid()) {
          point_id = next_uuid_point++;
        } else {
          point_id = point.id.num;
          if (point_id >= kFirstUuidPointId) {
            return Status::InvalidArgument("point id " + std::to_string(point_id) +
                                           ": ids from 2^63 on are reserved (use a UUID)");
          }
          auto taken = txn->Get(Table::kPoints, EncodeKey64(point_id));
          if (taken.ok()) {
            QUARRY_ASSIGN_OR_RETURN(Chunk chunk, storage::DecodeChunk(*taken));
            return Status::InvalidArgument(
                "point id " + std::to_string(point_id) + " is chunk " +
                std::to_string(chunk.chunk_index) + " of document '" + chunk.doc_id +
                "'; points and documents share ids: delete the document or use another id");
          }
          if (!taken.status().IsNotFound()) return taken.status();
        }
        ++stats.added;
      }
      chunks[idx] = PointChunk(point.id, point.payload, payloads[idx]);
      QUARRY_RETURN_IF_ERROR(
          txn->Put(Table::kPoints, EncodeKey64(point_id), storage::EncodeChunk(chunks[idx])));
      for (const auto& [name, values] : point.vectors) {
        QUARRY_RETURN_IF_ERROR(txn->Put(Table::kVectors, storage::VectorKey(point_id, name),
                                        storage::EncodeVector(values)));
      }
      for (const auto& [name, vector] : point.sparse_vectors) {
        QUARRY_RETURN_IF_ERROR(txn->Put(
            Table::kVectors, storage::VectorKey(point_id, storage::SparseVectorKeyName(name)),
            storage::EncodeSparseVector(vector.indices, vector.values)));
      }
      QUARRY_RETURN_IF_ERROR(txn->Put(Table::kChanges, EncodeKey64(++seq),
                                      storage::EncodeChange({ChangeOp::kUpsert, point_id})));
      QUARRY_RETURN_IF_ERROR(
          txn->Put(Table::kDocs, key, storage::EncodeDocRecord({"", "", hashes[idx], now, {point_id}})));
      ops.push_back({true, point_id, idx});
      ++stats.chunks_written;
    }
    if (ops.empty()) return stats;
    QUARRY_RETURN_IF_ERROR(
        txn->Put(Table::kMeta, storage::kMetaNextUuidPointId, EncodeU64(next_uuid_point)));
    QUARRY_RETURN_IF_ERROR(txn->Put(Table::kMeta, storage::kMetaLastSeq, EncodeU64(seq)));
    QUARRY_RETURN_IF_ERROR(txn->Commit());
  }
  // Durable now: apply to the in-memory indexes in order.
  std::vector<std::vector<index::WeightedTerm>> terms(ops.size());
  std::vector<float> lengths(ops.size());
  for (size_t op_idx = 0; op_idx < ops.size(); ++op_idx) {
    const Op& op = ops[op_idx];
    if (op.add && !chunks[op.point_idx].text.empty()) {
      im.ChunkTerms(chunks[op.point_idx], &terms[op_idx], &lengths[op_idx]);
    }
  }
  std::unique_lock lock(im.index_mu);
  for (size_t op_idx = 0; op_idx < ops.size(); ++op_idx) {
    const Op& op = ops[op_idx];
    if (!op.add) {
      im.index.Remove(op.point_id);
      for (auto& field : im.dense) field.index->Remove(op.point_id);
      for (auto& field : im.sparse) field.index->Remove(op.point_id);
      im.payload_indexes.Remove(op.point_id);
      continue;
    }
    const PointStruct& point = points[op.point_idx];
    const Chunk& chunk = chunks[op.point_idx];
    if (!chunk.text.empty()) im.index.Add(op.point_id, terms[op_idx], lengths[op_idx]);
    for (const auto& [name, values] : point.vectors) {
      Status added = im.FindDense(name)->index->Add(op.point_id, values);
      if (!added.ok()) LogWarning("dense index: " + added.ToString());  // checked above
    }
    for (const auto& [name, vector] : point.sparse_vectors) {
      Status added = im.FindSparse(name)->index->Add(op.point_id, {vector.indices, vector.values});
      if (!added.ok()) LogWarning("sparse index: " + added.ToString());  // checked above
    }
    im.payload_indexes.Add(op.point_id, chunk);
  }
  im.applied_seq = seq;
  return stats;
}

Result<std::vector<std::optional<PointRecord>>> Collection::RetrievePoints(
    std::span<const PointId> ids, bool with_vectors) const {
  const Impl& im = *impl_;
  std::vector<std::optional<PointRecord>> out(ids.size());
  QUARRY_ASSIGN_OR_RETURN(auto txn, im.store->BeginRead());
  for (size_t idx = 0; idx < ids.size(); ++idx) {
    PointId id = ids[idx];
    if (id.is_uuid()) {
      QUARRY_ASSIGN_OR_RETURN(id.uuid, CanonicalUuid(id.uuid));
    }
    auto point_id = im.FindPoint(*txn, id);
    if (point_id.status().IsNotFound()) continue;
    if (!point_id.ok()) return point_id.status();
    auto bytes = txn->Get(Table::kPoints, EncodeKey64(*point_id));
    if (bytes.status().IsNotFound()) continue;
    if (!bytes.ok()) return bytes.status();
    QUARRY_ASSIGN_OR_RETURN(Chunk chunk, storage::DecodeChunk(*bytes));
    QUARRY_ASSIGN_OR_RETURN(out[idx], im.ReadPointRecord(*txn, *point_id, chunk, with_vectors));
  }
  return out;
}

Result<std::vector<std::optional<PointRecord>>> Collection::RetrieveByPointIds(
    std::span<const uint64_t> point_ids, bool with_vectors) const {
  const Impl& im = *impl_;
  std::vector<std::optional<PointRecord>> out(point_ids.size());
  if (point_ids.empty()) return out;
  QUARRY_ASSIGN_OR_RETURN(auto txn, im.store->BeginRead());
  for (size_t idx = 0; idx < point_ids.size(); ++idx) {
    auto bytes = txn->Get(Table::kPoints, EncodeKey64(point_ids[idx]));
    if (bytes.status().IsNotFound()) continue;
    if (!bytes.ok()) return bytes.status();
    QUARRY_ASSIGN_OR_RETURN(Chunk chunk, storage::DecodeChunk(*bytes));
    QUARRY_ASSIGN_OR_RETURN(out[idx], im.ReadPointRecord(*txn, point_ids[idx], chunk, with_vectors));
  }
  return out;
}

Result<std::vector<uint64_t>> Collection::ResolvePointIds(std::span<const PointId> ids) const {
  QUARRY_ASSIGN_OR_RETURN(auto txn, impl_->store->BeginRead());
  std::vector<uint64_t> out;
  for (PointId id : ids) {
    if (id.is_uuid()) {
      QUARRY_ASSIGN_OR_RETURN(id.uuid, CanonicalUuid(id.uuid));
    }
    auto point_id = impl_->FindPoint(*txn, id);
    if (point_id.ok()) {
      out.push_back(*point_id);
    } else if (!point_id.status().IsNotFound()) {
      return point_id.status();
    }
  }
  return out;
}

Result<uint64_t> Collection::DeletePoints(const PointSelector& selector) {
  Impl& im = *impl_;
  if (im.read_only) return Status::FailedPrecondition("collection opened read-only");
  std::lock_guard write_lock(im.write_mu);
  std::vector<uint64_t> removed;
  uint64_t seq = 0;
  {
    QUARRY_ASSIGN_OR_RETURN(auto txn, im.store->BeginWrite());
    QUARRY_ASSIGN_OR_RETURN(std::vector<uint64_t> targets, im.SelectPoints(*txn, selector));
    if (targets.empty()) return uint64_t{0};
    QUARRY_ASSIGN_OR_RETURN(seq, ReadMetaU64(*txn, storage::kMetaLastSeq));
    for (uint64_t point_id : targets) {
      auto bytes = txn->Get(Table::kPoints, EncodeKey64(point_id));
      if (bytes.status().IsNotFound()) continue;
      if (!bytes.ok()) return bytes.status();
      QUARRY_ASSIGN_OR_RETURN(Chunk chunk, storage::DecodeChunk(*bytes));
      // The document (or point record) loses this point.
      auto record_bytes = txn->Get(Table::kDocs, chunk.doc_id);
      if (record_bytes.ok()) {
        QUARRY_ASSIGN_OR_RETURN(DocRecord record, storage::DecodeDocRecord(*record_bytes));
        std::erase(record.point_ids, point_id);
        if (record.point_ids.empty()) {
          QUARRY_RETURN_IF_ERROR(txn->Delete(Table::kDocs, chunk.doc_id));
        } else {
          record.content_hash = 0;  // no longer what was ingested: re-ingest rewrites it
          QUARRY_RETURN_IF_ERROR(txn->Put(Table::kDocs, chunk.doc_id, storage::EncodeDocRecord(record)));
        }
      } else if (!record_bytes.status().IsNotFound()) {
        return record_bytes.status();
      }
      QUARRY_RETURN_IF_ERROR(im.DeletePoint(txn.get(), point_id));
      QUARRY_RETURN_IF_ERROR(txn->Put(Table::kChanges, EncodeKey64(++seq),
                                      storage::EncodeChange({ChangeOp::kDelete, point_id})));
      removed.push_back(point_id);
    }
    if (removed.empty()) return uint64_t{0};
    QUARRY_RETURN_IF_ERROR(txn->Put(Table::kMeta, storage::kMetaLastSeq, EncodeU64(seq)));
    QUARRY_RETURN_IF_ERROR(txn->Commit());
  }
  std::unique_lock lock(im.index_mu);
  for (uint64_t point_id : removed) {
    im.index.Remove(point_id);
    for (auto& field : im.dense) field.index->Remove(point_id);
    for (auto& field : im.sparse) field.index->Remove(point_id);
    im.payload_indexes.Remove(point_id);
  }
  im.applied_seq = seq;
  return static_cast<uint64_t>(removed.size());
}

Result<uint64_t> Collection::UpdatePayload(const PointSelector& selector, const PayloadUpdate& update) {
  Impl& im = *impl_;
  if (im.read_only) return Status::FailedPrecondition("collection opened read-only");
  json given = json::object();
  if (update.op == PayloadOp::kSet || update.op == PayloadOp::kOverwrite) {
    std::string normalized = update.payload;
    QUARRY_RETURN_IF_ERROR(NormalizeMetadata(&normalized).WithContext("payload"));
    given = ParsePayload(normalized);
  }
  std::lock_guard write_lock(im.write_mu);
  struct Changed {
    uint64_t point_id;
    Chunk old_chunk;
    Chunk new_chunk;
  };
  std::vector<Changed> changed;
  uint64_t seq = 0;
  {
    QUARRY_ASSIGN_OR_RETURN(auto txn, im.store->BeginWrite());
    QUARRY_ASSIGN_OR_RETURN(std::vector<uint64_t> targets, im.SelectPoints(*txn, selector));
    QUARRY_ASSIGN_OR_RETURN(seq, ReadMetaU64(*txn, storage::kMetaLastSeq));
    std::unordered_set<std::string> touched_docs;
    for (uint64_t point_id : targets) {
      auto bytes = txn->Get(Table::kPoints, EncodeKey64(point_id));
      if (bytes.status().IsNotFound()) continue;
      if (!bytes.ok()) return bytes.status();
      QUARRY_ASSIGN_OR_RETURN(Chunk chunk, storage::DecodeChunk(*bytes));
      json payload = ParsePayload(chunk.metadata);
      switch (update.op) {
        case PayloadOp::kSet:
          for (auto it = given.begin(); it != given.end(); ++it) payload[it.key()] = it.value();
          break;
        case PayloadOp::kOverwrite: payload = given; break;
        case PayloadOp::kDeleteKeys:
          for (const std::string& key : update.keys) payload.erase(key);
          break;
        case PayloadOp::kClear: payload = json::object(); break;
      }
      std::string text = payload.empty() ? std::string() : payload.dump();
      if (text.size() > kMaxMetadataBytes) {
        return Status::InvalidArgument("point " + ExternalPointId(point_id, chunk).ToString() +
                                       ": the payload would be larger than " +
                                       std::to_string(kMaxMetadataBytes) + " bytes");
      }
      if (text == chunk.metadata) continue;
      Chunk updated = IsApiPoint(chunk) ? PointChunk(ExternalPointId(point_id, chunk), text, payload)
                                        : chunk;
      updated.metadata = text;
      QUARRY_RETURN_IF_ERROR(
          txn->Put(Table::kPoints, EncodeKey64(point_id), storage::EncodeChunk(updated)));
      // Replay re-reads the point: a delete then an upsert of the same id.
      QUARRY_RETURN_IF_ERROR(txn->Put(Table::kChanges, EncodeKey64(++seq),
                                      storage::EncodeChange({ChangeOp::kDelete, point_id})));
      QUARRY_RETURN_IF_ERROR(txn->Put(Table::kChanges, EncodeKey64(++seq),
                                      storage::EncodeChange({ChangeOp::kUpsert, point_id})));
      touched_docs.insert(chunk.doc_id);
      changed.push_back({point_id, std::move(chunk), std::move(updated)});
    }
    if (changed.empty()) return uint64_t{0};
    // The content hash no longer describes what is stored: the next upsert
    // of the same document or point rewrites it.
    for (const std::string& doc_id : touched_docs) {
      auto record_bytes = txn->Get(Table::kDocs, doc_id);
      if (record_bytes.status().IsNotFound()) continue;
      if (!record_bytes.ok()) return record_bytes.status();
      QUARRY_ASSIGN_OR_RETURN(DocRecord record, storage::DecodeDocRecord(*record_bytes));
      record.content_hash = 0;
      QUARRY_RETURN_IF_ERROR(txn->Put(Table::kDocs, doc_id, storage::EncodeDocRecord(record)));
    }
    QUARRY_RETURN_IF_ERROR(txn->Put(Table::kMeta, storage::kMetaLastSeq, EncodeU64(seq)));
    QUARRY_RETURN_IF_ERROR(txn->Commit());
  }
  std::vector<std::vector<index::WeightedTerm>> terms(changed.size());
  std::vector<float> lengths(changed.size());
  for (size_t idx = 0; idx < changed.size(); ++idx) {
    if (changed[idx].new_chunk.text != changed[idx].old_chunk.text &&
        !changed[idx].new_chunk.text.empty()) {
      im.ChunkTerms(changed[idx].new_chunk, &terms[idx], &lengths[idx]);
    }
  }
  std::unique_lock lock(im.index_mu);
  for (size_t idx = 0; idx < changed.size(); ++idx) {
    const Changed& c = changed[idx];
    if (c.new_chunk.text != c.old_chunk.text) {
      im.index.Remove(c.point_id);
      if (!c.new_chunk.text.empty()) im.index.Add(c.point_id, terms[idx], lengths[idx]);
    }
    im.payload_indexes.Remove(c.point_id);
    im.payload_indexes.Add(c.point_id, c.new_chunk);
  }
  im.applied_seq = seq;
  return static_cast<uint64_t>(changed.size());
}

Result<ScrollPage> Collection::Scroll(const ScrollRequest& request) const {
  const Impl& im = *impl_;
  if (request.limit == 0 || request.limit > 10000) {
    return Status::InvalidArgument("limit must be in [1, 10000]");
  }
  QUARRY_ASSIGN_OR_RETURN(auto txn, im.store->BeginRead());
  uint64_t start = 0;
  if (request.offset.has_value()) {
    PointId offset = *request.offset;
    if (offset.is_uuid()) {
      QUARRY_ASSIGN_OR_RETURN(offset.uuid, CanonicalUuid(offset.uuid));
      auto found = im.FindPoint(*txn, offset);
      if (!found.ok()) {
        return found.status().IsNotFound()
                   ? Status::InvalidArgument("offset: no point " + offset.uuid)
                   : found.status();
      }
      start = *found;
    } else {
      start = offset.num;
    }
  }
  std::optional<CompiledFilter> compiled;
  std::optional<std::vector<uint64_t>> candidates;
  if (request.filter.has_value() && !request.filter->empty()) {
    Filter filter = *request.filter;
    if (FilterHasUuids(filter)) QUARRY_RETURN_IF_ERROR(im.ResolveFilterIds(*txn, &filter));
    QUARRY_ASSIGN_OR_RETURN(compiled, CompiledFilter::Compile(filter));
    std::shared_lock lock(im.index_mu);
    candidates = im.payload_indexes.Candidates(filter);
  }
  ScrollPage page;
  Status status;
  auto visit = [&](uint64_t point_id, std::string_view bytes) -> bool {
    auto chunk = storage::DecodeChunk(bytes);
    if (!chunk.ok()) {
      status = chunk.status().WithContext("point " + std::to_string(point_id));
      return false;
    }
    if (compiled && !compiled->Matches(point_id, *chunk)) return true;
    if (page.points.size() == request.limit) {
      page.next_offset = ExternalPointId(point_id, *chunk);
      return false;
    }
    auto record = im.ReadPointRecord(*txn, point_id, *chunk, request.with_vectors);
    if (!record.ok()) {
      status = record.status();
      return false;
    }
    page.points.push_back(std::move(record).value());
    return true;
  };
  if (candidates) {
    for (auto it = std::lower_bound(candidates->begin(), candidates->end(), start);
         it != candidates->end(); ++it) {
      auto bytes = txn->Get(Table::kPoints, EncodeKey64(*it));
      if (bytes.status().IsNotFound()) continue;
      if (!bytes.ok()) return bytes.status();
      if (!visit(*it, *bytes)) break;
    }
  } else {
    QUARRY_RETURN_IF_ERROR(txn->Scan(Table::kPoints, EncodeKey64(start),
                                     [&](std::string_view key, std::string_view value) {
                                       return visit(DecodeKey64(key), value);
                                     }));
  }
  QUARRY_RETURN_IF_ERROR(status);
  return page;
}

Result<uint64_t> Collection::CountPoints(const std::optional<Filter>& filter) const {
  QUARRY_ASSIGN_OR_RETURN(auto txn, impl_->store->BeginRead());
  if (!filter.has_value() || filter->empty()) return txn->Count(Table::kPoints);
  QUARRY_ASSIGN_OR_RETURN(auto matching, impl_->MatchingPoints(*txn, *filter));
  return static_cast<uint64_t>(matching.size());
}

}  // namespace quarry
