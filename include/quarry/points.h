// Points: Qdrant's data model beside Quarry's documents.
//
// A collection holds points. Documents make theirs by chunking (each chunk is
// a point whose id the collection assigns). The points API writes points
// directly: the caller gives the id, the named dense vectors, the named
// sparse vectors and a JSON payload, as a Qdrant client does.
//
// Ids are Qdrant's: an unsigned 64-bit integer or a UUID.
//   - A numeric id N is the point's internal id. Upserting N when N is a
//     chunk of a document is an error (delete the document first); documents
//     written later skip ids that points hold.
//   - A UUID gets an internal id from 2^63 on (a counter of its own) on its
//     first upsert and keeps it; numeric ids from 2^63 on are refused, so the
//     two kinds never meet.
//   Either way the point is stored as a one-chunk "document" whose key is
//   kPointKeyMark + the id's text, so the docs table maps ids to points and
//   the chunk names its id.
// Payload: the JSON object given (at most kMaxMetadataBytes as compact
// JSON), stored as the chunk's metadata. A string under "text" is also the
// chunk's text: BM25 indexes it, so text queries reach points too. Filters
// on a point see exactly its payload (a document chunk's payload is its fixed
// fields over its document's metadata).
//
// Thread-safety: plain structs.
#ifndef QUARRY_POINTS_H_
#define QUARRY_POINTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "quarry/query.h"
#include "quarry/status.h"
#include "quarry/types.h"

namespace quarry {

// Internal ids of UUID points start here.
inline constexpr uint64_t kFirstUuidPointId = uint64_t{1} << 63;

// The first byte of the doc key of a point written through the points API.
inline constexpr char kPointKeyMark = '\x1f';

struct PointId {
  uint64_t num = 0;
  std::string uuid;  // canonical (lower case, 8-4-4-4-12); empty: a numeric id

  static PointId Num(uint64_t n) { return PointId{n, {}}; }
  bool is_uuid() const { return !uuid.empty(); }
  std::string ToString() const { return is_uuid() ? uuid : std::to_string(num); }
  bool operator==(const PointId&) const = default;
};

// Accepts 32 hex digits with or without the four hyphens (any case), and
// Qdrant's "urn:uuid:" prefix; returns the canonical form.
Result<std::string> CanonicalUuid(std::string_view text);
// The doc key of a point written through the points API.
std::string PointDocKey(const PointId& id);
// True when the chunk is a point written through the points API.
inline bool IsApiPoint(const Chunk& chunk) {
  return !chunk.doc_id.empty() && chunk.doc_id[0] == kPointKeyMark;
}
// The Qdrant id of a stored point: the id it was written with, or for a
// chunk of a document, its internal id.
PointId ExternalPointId(uint64_t point_id, const Chunk& chunk);

struct PointStruct {
  PointId id;
  std::string payload;  // a JSON object as text; "" = {}
  std::vector<std::pair<std::string, std::vector<float>>> vectors;  // named dense
  std::vector<std::pair<std::string, SparseVector>> sparse_vectors;
};

// A stored point as read back.
struct PointRecord {
  PointId id;
  uint64_t point_id = 0;  // internal
  Chunk chunk;            // IsApiPoint(chunk): payload = chunk.metadata
  std::vector<std::pair<std::string, std::vector<float>>> vectors;  // when asked for
  std::vector<std::pair<std::string, SparseVector>> sparse_vectors;
};

// Which points a write applies to: the listed ids, or those the filter
// passes (Qdrant's PointsSelector).
struct PointSelector {
  std::vector<PointId> ids;
  std::optional<Filter> filter;
};

enum class PayloadOp {
  kSet,         // merge `payload`'s keys into the payload
  kOverwrite,   // replace the payload with `payload`
  kDeleteKeys,  // remove `keys` (top-level keys)
  kClear,       // payload = {}
};

struct PayloadUpdate {
  PayloadOp op = PayloadOp::kSet;
  std::string payload;            // JSON object text (kSet, kOverwrite)
  std::vector<std::string> keys;  // kDeleteKeys
};

struct ScrollRequest {
  std::optional<Filter> filter;
  std::optional<PointId> offset;  // first point of the page (inclusive); none: the start
  size_t limit = 10;
  bool with_vectors = false;
};

// Points in internal id order (numeric ids ascending; a UUID sits where its
// internal id falls).
struct ScrollPage {
  std::vector<PointRecord> points;
  std::optional<PointId> next_offset;
};

}  // namespace quarry

#endif  // QUARRY_POINTS_H_
