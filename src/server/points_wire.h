// Wire formats of Qdrant's points routes: upsert (a list or a batch),
// retrieve, delete, payload updates, scroll, count, search and the Query API.
// Like wire.h: shape, types and limits only; errors name the field.
//
// Point ids are Qdrant's: an unsigned integer, or a UUID string (any case,
// with or without hyphens; answered in canonical form). Vectors of a point:
// an array (the collection's only dense vector), or an object of named dense
// arrays and named sparse {"indices", "values"}.
//
// Thread-safety: pure functions.
#ifndef QUARRY_SERVER_POINTS_WIRE_H_
#define QUARRY_SERVER_POINTS_WIRE_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "quarry/collection.h"
#include "quarry/points.h"
#include "search/points_query.h"
#include "server/wire.h"

namespace quarry::server {

inline constexpr size_t kMaxPointsPerCall = 10000;  // upsert, retrieve, delete by id
inline constexpr size_t kMaxBatchQueries = 100;     // search/batch, query/batch

// with_payload: true | false | ["key", ...] | {"include": [...]} | {"exclude": [...]}.
struct PayloadSelector {
  bool enabled = false;
  std::vector<std::string> include;  // empty: every key
  std::vector<std::string> exclude;
};
// with_vector(s): true | false | ["name", ...].
struct VectorSelector {
  bool enabled = false;
  std::vector<std::string> names;  // empty: every vector
};

Result<PointId> DecodePointId(const nlohmann::json& value, const std::string& where);
nlohmann::json PointIdJson(const PointId& id);

// PUT /collections/{name}/points: {"points": [{"id", "vector", "payload"}]}
// or {"batch": {"ids", "vectors", "payloads"}}.
Result<std::vector<PointStruct>> DecodeUpsertPoints(const nlohmann::json& body,
                                                    const CollectionOptions& options);

// POST /collections/{name}/points: {"ids", "with_payload" (true), "with_vector" (false)}.
struct RetrieveBody {
  std::vector<PointId> ids;
  PayloadSelector with_payload{true, {}, {}};
  VectorSelector with_vector;
};
Result<RetrieveBody> DecodeRetrieve(const nlohmann::json& body);

// {"points": [ids]} or {"filter": {...}} (delete, payload routes).
Result<PointSelector> DecodePointSelector(const nlohmann::json& body);

// POST|PUT /collections/{name}/points/payload (set | overwrite),
// POST .../payload/delete ({"keys"}), POST .../payload/clear.
Result<std::pair<PointSelector, PayloadUpdate>> DecodePayloadUpdate(const nlohmann::json& body,
                                                                    PayloadOp op);

// POST /collections/{name}/points/scroll.
struct ScrollBody {
  ScrollRequest request;
  PayloadSelector with_payload{true, {}, {}};
};
Result<ScrollBody> DecodeScroll(const nlohmann::json& body);

// POST /collections/{name}/points/count: {"filter", "exact"}.
Result<std::optional<Filter>> DecodeCount(const nlohmann::json& body);

// POST /collections/{name}/points/query (and each entry of query/batch's
// "searches"); POST .../points/search (the legacy vector search).
struct QueryBody {
  search::PointQuery query;
  PayloadSelector with_payload;
  VectorSelector with_vector;
};
Result<QueryBody> DecodeQuery(const nlohmann::json& body);
Result<QueryBody> DecodeSearchPoints(const nlohmann::json& body);
// {"searches": [...]} of the batch routes.
Result<std::vector<QueryBody>> DecodeBatch(const nlohmann::json& body, bool legacy_search);

}  // namespace quarry::server

#endif  // QUARRY_SERVER_POINTS_WIRE_H_
