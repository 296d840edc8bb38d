#include "server/points_wire.h"

#include <cmath>
#include <limits>

#include "server/wire_internal.h"

namespace quarry::server {

using nlohmann::json;
using namespace wire_internal;  // NOLINT: the decoders' shared helpers

namespace {

std::string At(const std::string& where, size_t idx) {
  return where + "[" + std::to_string(idx) + "]";
}

Status DecodeFloats(const json& value, const std::string& where, std::vector<float>* out) {
  if (!value.is_array()) return WrongType(where, "an array of numbers", value);
  out->reserve(value.size());
  for (size_t idx = 0; idx < value.size(); ++idx) {
    const json& item = value[idx];
    if (!item.is_number()) return WrongType(At(where, idx), "a number", item);
    double v = item.get<double>();
    if (!std::isfinite(v) || std::fabs(v) > std::numeric_limits<float>::max()) {
      return Invalid(At(where, idx), "must be a finite float");
    }
    out->push_back(static_cast<float>(v));
  }
  return Status::OK();
}

Status DecodeSparse(const json& value, const std::string& where, SparseVector* out) {
  if (!value.is_object()) return WrongType(where, "an object with indices and values", value);
  QUARRY_RETURN_IF_ERROR(OnlyKeys(value, {"indices", "values"}, where));
  auto indices = value.find("indices");
  auto values = value.find("values");
  if (indices == value.end() || values == value.end()) {
    return Invalid(where, "a sparse vector needs \"indices\" and \"values\"");
  }
  if (!indices->is_array()) return WrongType(where + ".indices", "an array of integers", *indices);
  for (size_t idx = 0; idx < indices->size(); ++idx) {
    int64_t index = 0;
    QUARRY_RETURN_IF_ERROR(GetInt((*indices)[idx], At(where + ".indices", idx), 0,
                                  std::numeric_limits<uint32_t>::max(), &index));
    out->indices.push_back(static_cast<uint32_t>(index));
  }
  QUARRY_RETURN_IF_ERROR(DecodeFloats(*values, where + ".values", &out->values));
  if (out->indices.size() != out->values.size()) {
    return Invalid(where, "has " + std::to_string(out->indices.size()) + " indices but " +
                              std::to_string(out->values.size()) + " values");
  }
  return Status::OK();
}

bool IsSparseName(const CollectionOptions& options, const std::string& name) {
  for (const auto& config : options.sparse_vectors) {
    if (config.name == name) return true;
  }
  return false;
}

// The name an unnamed vector stands for: the collection's only dense vector.
Result<std::string> UnnamedVector(const CollectionOptions& options, const std::string& where) {
  if (options.dense_vectors.size() == 1) return options.dense_vectors[0].name;
  return Invalid(where, options.dense_vectors.empty()
                            ? "the collection has no dense vectors"
                            : "the collection has several dense vectors: name them in an object");
}

// A point's "vector": an array, or {name: dense array | sparse object}.
Status DecodePointVectors(const json& value, const std::string& where,
                          const CollectionOptions& options, PointStruct* point) {
  if (value.is_null()) return Status::OK();
  if (value.is_array()) {
    QUARRY_ASSIGN_OR_RETURN(std::string name, UnnamedVector(options, where));
    std::vector<float> values;
    QUARRY_RETURN_IF_ERROR(DecodeFloats(value, where, &values));
    point->vectors.emplace_back(name, std::move(values));
    return Status::OK();
  }
  if (!value.is_object()) return WrongType(where, "an array or an object of named vectors", value);
  for (auto it = value.begin(); it != value.end(); ++it) {
    const std::string name_where = where + "." + it.key();
    if (IsSparseName(options, it.key())) {
      SparseVector sparse;
      QUARRY_RETURN_IF_ERROR(DecodeSparse(it.value(), name_where, &sparse));
      point->sparse_vectors.emplace_back(it.key(), std::move(sparse));
      continue;
    }
    std::string name = it.key();
    if (name.empty()) {
      QUARRY_ASSIGN_OR_RETURN(name, UnnamedVector(options, where));
    }
    if (it.value().is_object()) {
      return Invalid(name_where, "the collection has no sparse vector '" + it.key() + "'");
    }
    std::vector<float> values;
    QUARRY_RETURN_IF_ERROR(DecodeFloats(it.value(), name_where, &values));
    point->vectors.emplace_back(name, std::move(values));
  }
  return Status::OK();
}

Status DecodePayload(const json& value, const std::string& where, std::string* out) {
  if (value.is_null()) return Status::OK();
  if (!value.is_object()) return WrongType(where, "an object", value);
  *out = value.empty() ? std::string() : value.dump();
  return Status::OK();
}

Status DecodeStringList(const json& value, const std::string& where, std::vector<std::string>* out) {
  if (!value.is_array()) return WrongType(where, "an array of strings", value);
  for (size_t idx = 0; idx < value.size(); ++idx) {
    if (!value[idx].is_string()) return WrongType(At(where, idx), "a string", value[idx]);
    out->push_back(value[idx].get<std::string>());
  }
  return Status::OK();
}

Status DecodeWithPayload(const json& body, PayloadSelector* out) {
  auto it = body.find("with_payload");
  if (it == body.end() || it->is_null()) return Status::OK();
  if (it->is_boolean()) {
    out->enabled = it->get<bool>();
    return Status::OK();
  }
  out->enabled = true;
  if (it->is_array()) return DecodeStringList(*it, "with_payload", &out->include);
  if (it->is_object()) {
    QUARRY_RETURN_IF_ERROR(OnlyKeys(*it, {"include", "exclude"}, "with_payload"));
    if (auto inc = it->find("include"); inc != it->end()) {
      QUARRY_RETURN_IF_ERROR(DecodeStringList(*inc, "with_payload.include", &out->include));
    }
    if (auto exc = it->find("exclude"); exc != it->end()) {
      QUARRY_RETURN_IF_ERROR(DecodeStringList(*exc, "with_payload.exclude", &out->exclude));
    }
    return Status::OK();
  }
  return WrongType("with_payload", "true, false, a list of keys or {include|exclude}", *it);
}

Status DecodeWithVector(const json& body, VectorSelector* out) {
  for (const char* key : {"with_vector", "with_vectors"}) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) continue;
    if (it->is_boolean()) {
      out->enabled = it->get<bool>();
    } else if (it->is_array()) {
      out->enabled = true;
      QUARRY_RETURN_IF_ERROR(DecodeStringList(*it, key, &out->names));
    } else {
      return WrongType(key, "true, false or a list of vector names", *it);
    }
  }
  return Status::OK();
}

Status DecodeIdList(const json& value, const std::string& where, std::vector<PointId>* out) {
  if (!value.is_array()) return WrongType(where, "an array of point ids", value);
  if (value.size() > kMaxPointsPerCall) return TooMany(where, value.size(), kMaxPointsPerCall);
  for (size_t idx = 0; idx < value.size(); ++idx) {
    QUARRY_ASSIGN_OR_RETURN(PointId id, DecodePointId(value[idx], At(where, idx)));
    out->push_back(std::move(id));
  }
  return Status::OK();
}

Status DecodeLimit(const json& body, const char* key, size_t* out, const std::string& where) {
  std::optional<int64_t> v;
  QUARRY_RETURN_IF_ERROR(GetOptionalInt(body, key, 1, 10000, &v, where));
  if (v) *out = static_cast<size_t>(*v);
  return Status::OK();
}

Status DecodeParams(const json& body, const std::string& where, search::PointQuery* query) {
  auto params = body.find("params");
  if (params == body.end() || params->is_null()) return Status::OK();
  const std::string name = where.empty() ? "params" : where + ".params";
  if (!params->is_object()) return WrongType(name, "an object", *params);
  QUARRY_RETURN_IF_ERROR(
      OnlyKeys(*params, {"hnsw_ef", "exact", "quantization", "indexed_only", "acorn"}, name));
  std::optional<int64_t> ef;
  QUARRY_RETURN_IF_ERROR(GetOptionalInt(*params, "hnsw_ef", 1, 100000, &ef, name));
  if (ef) query->hnsw_ef = static_cast<size_t>(*ef);
  QUARRY_RETURN_IF_ERROR(GetBool(*params, "exact", &query->exact, name));
  if (auto q = params->find("quantization"); q != params->end() && !q->is_null()) {
    const std::string qname = name + ".quantization";
    if (!q->is_object()) return WrongType(qname, "an object", *q);
    QUARRY_RETURN_IF_ERROR(OnlyKeys(*q, {"ignore", "rescore", "oversampling"}, qname));
    bool ignore = false;
    QUARRY_RETURN_IF_ERROR(GetBool(*q, "ignore", &ignore, qname));
    if (ignore) query->exact = true;  // search the originals
    QUARRY_RETURN_IF_ERROR(GetBool(*q, "rescore", &query->rescore, qname));
    std::optional<double> oversampling;
    QUARRY_RETURN_IF_ERROR(GetOptionalNumber(*q, "oversampling", 1.0, 100.0, &oversampling, qname));
    if (oversampling) query->oversampling = static_cast<float>(*oversampling);
  }
  return Status::OK();
}

Status DecodeCommon(const json& body, const std::string& where, search::PointQuery* query) {
  QUARRY_RETURN_IF_ERROR(GetString(body, "using", &query->using_name, false, where));
  if (auto filter = body.find("filter"); filter != body.end() && !filter->is_null()) {
    QUARRY_ASSIGN_OR_RETURN(query->filter,
                            DecodeFilter(*filter, where.empty() ? "filter" : where + ".filter"));
  }
  std::optional<double> threshold;
  QUARRY_RETURN_IF_ERROR(GetOptionalNumber(body, "score_threshold", -1e30, 1e30, &threshold, where));
  if (threshold) query->score_threshold = static_cast<float>(*threshold);
  QUARRY_RETURN_IF_ERROR(DecodeLimit(body, "limit", &query->limit, where));
  return DecodeParams(body, where, query);
}

Status DecodeWeights(const json& value, const std::string& where, std::vector<float>* out) {
  QUARRY_RETURN_IF_ERROR(DecodeFloats(value, where, out));
  for (size_t idx = 0; idx < out->size(); ++idx) {
    if ((*out)[idx] < 0) return Invalid(At(where, idx), "weights must not be negative");
  }
  return Status::OK();
}

// The "query" of a Query API request.
Status DecodeQueryValue(const json& value, const std::string& where, search::PointQuery* query) {
  using Kind = search::PointQuery::Kind;
  if (value.is_null()) return Status::OK();
  if (value.is_number() || value.is_string()) {
    query->kind = Kind::kPointId;
    QUARRY_ASSIGN_OR_RETURN(query->point, DecodePointId(value, where));
    return Status::OK();
  }
  if (value.is_array()) {
    if (!value.empty() && value[0].is_array()) {
      return Invalid(where, "multivector queries are not supported");
    }
    query->kind = Kind::kDense;
    return DecodeFloats(value, where, &query->dense);
  }
  if (!value.is_object()) return WrongType(where, "a vector, a point id or a query object", value);
  if (auto it = value.find("nearest"); it != value.end()) {
    QUARRY_RETURN_IF_ERROR(OnlyKeys(value, {"nearest", "mmr"}, where));
    if (value.contains("mmr")) return Invalid(where + ".mmr", "MMR is not supported");
    return DecodeQueryValue(*it, where + ".nearest", query);
  }
  if (auto it = value.find("fusion"); it != value.end()) {
    QUARRY_RETURN_IF_ERROR(OnlyKeys(value, {"fusion"}, where));
    if (*it == "rrf") {
      query->kind = Kind::kFusionRrf;
    } else if (*it == "dbsf") {
      query->kind = Kind::kFusionDbsf;
    } else {
      return Invalid(where + ".fusion", "must be \"rrf\" or \"dbsf\"");
    }
    return Status::OK();
  }
  if (auto it = value.find("rrf"); it != value.end()) {
    QUARRY_RETURN_IF_ERROR(OnlyKeys(value, {"rrf"}, where));
    query->kind = Kind::kFusionRrf;
    if (it->is_null()) return Status::OK();
    if (!it->is_object()) return WrongType(where + ".rrf", "an object", *it);
    QUARRY_RETURN_IF_ERROR(OnlyKeys(*it, {"k", "weights"}, where + ".rrf"));
    std::optional<int64_t> k;
    QUARRY_RETURN_IF_ERROR(GetOptionalInt(*it, "k", 1, 1000000, &k, where + ".rrf"));
    if (k) query->rrf_k = static_cast<int>(*k);
    if (auto w = it->find("weights"); w != it->end() && !w->is_null()) {
      QUARRY_RETURN_IF_ERROR(DecodeWeights(*w, where + ".rrf.weights", &query->weights));
    }
    return Status::OK();
  }
  if (auto it = value.find("dbsf"); it != value.end()) {
    QUARRY_RETURN_IF_ERROR(OnlyKeys(value, {"dbsf"}, where));
    query->kind = Kind::kFusionDbsf;
    if (it->is_object()) {
      QUARRY_RETURN_IF_ERROR(OnlyKeys(*it, {"weights"}, where + ".dbsf"));
      if (auto w = it->find("weights"); w != it->end() && !w->is_null()) {
        QUARRY_RETURN_IF_ERROR(DecodeWeights(*w, where + ".dbsf.weights", &query->weights));
      }
    }
    return Status::OK();
  }
  if (value.contains("indices") || value.contains("values")) {
    query->kind = Kind::kSparse;
    return DecodeSparse(value, where, &query->sparse);
  }
  if (auto it = value.find("rerank"); it != value.end()) {
    QUARRY_RETURN_IF_ERROR(OnlyKeys(value, {"rerank"}, where));
    const std::string name = where + ".rerank";
    if (!it->is_object()) return WrongType(name, "an object with \"text\"", *it);
    QUARRY_RETURN_IF_ERROR(OnlyKeys(*it, {"text", "model"}, name));
    query->kind = Kind::kRerank;
    QUARRY_RETURN_IF_ERROR(GetString(*it, "text", &query->text, true, name));
    if (query->text.empty()) return Invalid(name + ".text", "must not be empty");
    return GetString(*it, "model", &query->model, false, name);
  }
  if (value.contains("text")) {
    QUARRY_RETURN_IF_ERROR(OnlyKeys(value, {"text", "model", "options"}, where));
    query->kind = Kind::kText;
    QUARRY_RETURN_IF_ERROR(GetString(value, "text", &query->text, true, where));
    if (query->text.empty()) return Invalid(where + ".text", "must not be empty");
    return GetString(value, "model", &query->model, false, where);
  }
  for (const char* unsupported :
       {"recommend", "discover", "context", "order_by", "formula", "sample", "image", "object"}) {
    if (value.contains(unsupported)) {
      return Invalid(where, std::string("\"") + unsupported + "\" queries are not supported");
    }
  }
  return Invalid(where, "unknown query (use a vector, {\"indices\", \"values\"}, a point id, "
                        "{\"text\"}, {\"fusion\": \"rrf\"|\"dbsf\"} or {\"rrf\": {...}})");
}

Status DecodePrefetches(const json& body, const std::string& where, size_t depth,
                        search::PointQuery* query);

Status DecodeQueryNode(const json& value, const std::string& where, size_t depth,
                       search::PointQuery* query) {
  if (depth > 8) return Invalid(where, "prefetches nest deeper than 8");
  if (!value.is_object()) return WrongType(where, "an object", value);
  QUARRY_RETURN_IF_ERROR(OnlyKeys(value,
                                  {"prefetch", "query", "using", "filter", "params",
                                   "score_threshold", "limit", "lookup_from"},
                                  where));
  if (auto it = value.find("lookup_from"); it != value.end() && !it->is_null()) {
    return Invalid(where + ".lookup_from", "lookup_from is not supported");
  }
  QUARRY_RETURN_IF_ERROR(DecodeCommon(value, where, query));
  if (auto it = value.find("query"); it != value.end()) {
    QUARRY_RETURN_IF_ERROR(DecodeQueryValue(*it, where + ".query", query));
  }
  return DecodePrefetches(value, where, depth, query);
}

Status DecodePrefetches(const json& body, const std::string& where, size_t depth,
                        search::PointQuery* query) {
  auto it = body.find("prefetch");
  if (it == body.end() || it->is_null()) return Status::OK();
  const std::string name = where.empty() ? "prefetch" : where + ".prefetch";
  if (it->is_object()) {
    query->prefetch.emplace_back();
    return DecodeQueryNode(*it, name, depth + 1, &query->prefetch.back());
  }
  if (!it->is_array()) return WrongType(name, "an object or an array of objects", *it);
  if (it->size() > 64) return TooMany(name, it->size(), 64);
  for (size_t idx = 0; idx < it->size(); ++idx) {
    query->prefetch.emplace_back();
    QUARRY_RETURN_IF_ERROR(DecodeQueryNode((*it)[idx], At(name, idx), depth + 1,
                                           &query->prefetch.back()));
  }
  return Status::OK();
}

}  // namespace

Result<PointId> DecodePointId(const json& value, const std::string& where) {
  if (value.is_number_unsigned() || (value.is_number_integer() && value.get<int64_t>() >= 0)) {
    return PointId::Num(value.get<uint64_t>());
  }
  if (value.is_string()) {
    auto uuid = CanonicalUuid(value.get_ref<const std::string&>());
    if (!uuid.ok()) return Invalid(where, uuid.status().message());
    return PointId{0, std::move(uuid).value()};
  }
  return WrongType(where, "a point id (an unsigned integer or a UUID)", value);
}

json PointIdJson(const PointId& id) { return id.is_uuid() ? json(id.uuid) : json(id.num); }

Result<std::vector<PointStruct>> DecodeUpsertPoints(const json& body,
                                                    const CollectionOptions& options) {
  QUARRY_RETURN_IF_ERROR(OnlyKeys(body, {"points", "batch", "shard_key", "update_filter"}, ""));
  if (auto it = body.find("update_filter"); it != body.end() && !it->is_null()) {
    return Invalid("update_filter", "conditional upserts are not supported");
  }
  std::vector<PointStruct> points;
  auto list = body.find("points");
  auto batch = body.find("batch");
  if ((list == body.end()) == (batch == body.end())) {
    return Invalid("", "give either \"points\" or \"batch\"");
  }
  if (list != body.end()) {
    if (!list->is_array()) return WrongType("points", "an array of points", *list);
    if (list->size() > kMaxPointsPerCall) return TooMany("points", list->size(), kMaxPointsPerCall);
    for (size_t idx = 0; idx < list->size(); ++idx) {
      const json& item = (*list)[idx];
      const std::string where = At("points", idx);
      if (!item.is_object()) return WrongType(where, "an object", item);
      QUARRY_RETURN_IF_ERROR(OnlyKeys(item, {"id", "vector", "vectors", "payload"}, where));
      PointStruct point;
      auto id = item.find("id");
      if (id == item.end()) return Invalid(where, "missing field 'id'");
      QUARRY_ASSIGN_OR_RETURN(point.id, DecodePointId(*id, where + ".id"));
      for (const char* key : {"vector", "vectors"}) {
        if (auto v = item.find(key); v != item.end()) {
          QUARRY_RETURN_IF_ERROR(DecodePointVectors(*v, where + "." + key, options, &point));
        }
      }
      if (auto payload = item.find("payload"); payload != item.end()) {
        QUARRY_RETURN_IF_ERROR(DecodePayload(*payload, where + ".payload", &point.payload));
      }
      points.push_back(std::move(point));
    }
    return points;
  }
  if (!batch->is_object()) return WrongType("batch", "an object", *batch);
  QUARRY_RETURN_IF_ERROR(OnlyKeys(*batch, {"ids", "vectors", "payloads"}, "batch"));
  auto ids = batch->find("ids");
  if (ids == batch->end()) return Invalid("batch", "missing field 'ids'");
  std::vector<PointId> id_list;
  QUARRY_RETURN_IF_ERROR(DecodeIdList(*ids, "batch.ids", &id_list));
  points.resize(id_list.size());
  for (size_t idx = 0; idx < id_list.size(); ++idx) points[idx].id = id_list[idx];
  if (auto vectors = batch->find("vectors"); vectors != batch->end() && !vectors->is_null()) {
    auto check_size = [&](const json& column, const std::string& where) -> Status {
      if (!column.is_array()) return WrongType(where, "an array with one entry per id", column);
      if (column.size() != points.size()) {
        return Invalid(where, "has " + std::to_string(column.size()) + " entries for " +
                                  std::to_string(points.size()) + " ids");
      }
      return Status::OK();
    };
    if (vectors->is_array()) {
      QUARRY_RETURN_IF_ERROR(check_size(*vectors, "batch.vectors"));
      for (size_t idx = 0; idx < points.size(); ++idx) {
        QUARRY_RETURN_IF_ERROR(DecodePointVectors((*vectors)[idx], At("batch.vectors", idx),
                                                  options, &points[idx]));
      }
    } else if (vectors->is_object()) {
      for (auto it = vectors->begin(); it != vectors->end(); ++it) {
        const std::string where = "batch.vectors." + it.key();
        QUARRY_RETURN_IF_ERROR(check_size(it.value(), where));
        for (size_t idx = 0; idx < points.size(); ++idx) {
          json one = json::object();
          one[it.key()] = it.value()[idx];
          QUARRY_RETURN_IF_ERROR(DecodePointVectors(one, At(where, idx), options, &points[idx]));
        }
      }
    } else {
      return WrongType("batch.vectors", "an array or an object of named columns", *vectors);
    }
  }
  if (auto payloads = batch->find("payloads"); payloads != batch->end() && !payloads->is_null()) {
    if (!payloads->is_array() || payloads->size() != points.size()) {
      return Invalid("batch.payloads", "must be an array with one payload per id");
    }
    for (size_t idx = 0; idx < points.size(); ++idx) {
      QUARRY_RETURN_IF_ERROR(
          DecodePayload((*payloads)[idx], At("batch.payloads", idx), &points[idx].payload));
    }
  }
  return points;
}

Result<RetrieveBody> DecodeRetrieve(const json& body) {
  QUARRY_RETURN_IF_ERROR(
      OnlyKeys(body, {"ids", "with_payload", "with_vector", "with_vectors", "shard_key"}, ""));
  RetrieveBody out;
  auto ids = body.find("ids");
  if (ids == body.end()) return Invalid("", "missing field 'ids'");
  QUARRY_RETURN_IF_ERROR(DecodeIdList(*ids, "ids", &out.ids));
  QUARRY_RETURN_IF_ERROR(DecodeWithPayload(body, &out.with_payload));
  QUARRY_RETURN_IF_ERROR(DecodeWithVector(body, &out.with_vector));
  return out;
}

Result<PointSelector> DecodePointSelector(const json& body) {
  PointSelector selector;
  auto points = body.find("points");
  auto filter = body.find("filter");
  bool has_points = points != body.end() && !points->is_null();
  bool has_filter = filter != body.end() && !filter->is_null();
  if (has_points == has_filter) return Invalid("", "give either \"points\" (ids) or \"filter\"");
  if (has_points) {
    QUARRY_RETURN_IF_ERROR(DecodeIdList(*points, "points", &selector.ids));
  } else {
    QUARRY_ASSIGN_OR_RETURN(selector.filter, DecodeFilter(*filter, "filter"));
  }
  return selector;
}

Result<std::pair<PointSelector, PayloadUpdate>> DecodePayloadUpdate(const json& body, PayloadOp op) {
  PayloadUpdate update;
  update.op = op;
  switch (op) {
    case PayloadOp::kSet:
    case PayloadOp::kOverwrite: {
      QUARRY_RETURN_IF_ERROR(OnlyKeys(body, {"payload", "points", "filter", "key", "shard_key"}, ""));
      if (auto key = body.find("key"); key != body.end() && !key->is_null()) {
        return Invalid("key", "setting a payload under a nested key is not supported");
      }
      auto payload = body.find("payload");
      if (payload == body.end()) return Invalid("", "missing field 'payload'");
      QUARRY_RETURN_IF_ERROR(DecodePayload(*payload, "payload", &update.payload));
      break;
    }
    case PayloadOp::kDeleteKeys: {
      QUARRY_RETURN_IF_ERROR(OnlyKeys(body, {"keys", "points", "filter", "shard_key"}, ""));
      auto keys = body.find("keys");
      if (keys == body.end()) return Invalid("", "missing field 'keys'");
      QUARRY_RETURN_IF_ERROR(DecodeStringList(*keys, "keys", &update.keys));
      break;
    }
    case PayloadOp::kClear:
      QUARRY_RETURN_IF_ERROR(OnlyKeys(body, {"points", "filter", "shard_key"}, ""));
      break;
  }
  QUARRY_ASSIGN_OR_RETURN(PointSelector selector, DecodePointSelector(body));
  return std::make_pair(std::move(selector), std::move(update));
}

Result<ScrollBody> DecodeScroll(const json& body) {
  QUARRY_RETURN_IF_ERROR(OnlyKeys(body,
                                  {"filter", "limit", "offset", "with_payload", "with_vector",
                                   "with_vectors", "order_by", "shard_key"},
                                  ""));
  ScrollBody out;
  if (auto it = body.find("order_by"); it != body.end() && !it->is_null()) {
    return Invalid("order_by", "ordering a scroll by a payload key is not supported");
  }
  if (auto filter = body.find("filter"); filter != body.end() && !filter->is_null()) {
    QUARRY_ASSIGN_OR_RETURN(out.request.filter, DecodeFilter(*filter, "filter"));
  }
  QUARRY_RETURN_IF_ERROR(DecodeLimit(body, "limit", &out.request.limit, ""));
  if (auto offset = body.find("offset"); offset != body.end() && !offset->is_null()) {
    QUARRY_ASSIGN_OR_RETURN(out.request.offset, DecodePointId(*offset, "offset"));
  }
  QUARRY_RETURN_IF_ERROR(DecodeWithPayload(body, &out.with_payload));
  VectorSelector vectors;
  QUARRY_RETURN_IF_ERROR(DecodeWithVector(body, &vectors));
  out.request.with_vectors = vectors.enabled;
  return out;
}

Result<std::optional<Filter>> DecodeCount(const json& body) {
  QUARRY_RETURN_IF_ERROR(OnlyKeys(body, {"filter", "exact", "shard_key"}, ""));
  bool exact = true;
  QUARRY_RETURN_IF_ERROR(GetBool(body, "exact", &exact));
  std::optional<Filter> filter;
  if (auto it = body.find("filter"); it != body.end() && !it->is_null()) {
    QUARRY_ASSIGN_OR_RETURN(filter, DecodeFilter(*it, "filter"));
  }
  return filter;
}

Result<QueryBody> DecodeQuery(const json& body) {
  QUARRY_RETURN_IF_ERROR(OnlyKeys(body,
                                  {"prefetch", "query", "using", "filter", "params",
                                   "score_threshold", "limit", "offset", "with_payload",
                                   "with_vector", "with_vectors", "lookup_from", "shard_key"},
                                  ""));
  if (auto it = body.find("lookup_from"); it != body.end() && !it->is_null()) {
    return Invalid("lookup_from", "lookup_from is not supported");
  }
  QueryBody out;
  QUARRY_RETURN_IF_ERROR(DecodeCommon(body, "", &out.query));
  std::optional<int64_t> offset;
  QUARRY_RETURN_IF_ERROR(GetOptionalInt(body, "offset", 0, 100000, &offset));
  if (offset) out.query.offset = static_cast<size_t>(*offset);
  if (auto it = body.find("query"); it != body.end()) {
    QUARRY_RETURN_IF_ERROR(DecodeQueryValue(*it, "query", &out.query));
  }
  QUARRY_RETURN_IF_ERROR(DecodePrefetches(body, "", 0, &out.query));
  QUARRY_RETURN_IF_ERROR(DecodeWithPayload(body, &out.with_payload));
  QUARRY_RETURN_IF_ERROR(DecodeWithVector(body, &out.with_vector));
  return out;
}

Result<QueryBody> DecodeSearchPoints(const json& body) {
  QUARRY_RETURN_IF_ERROR(OnlyKeys(body,
                                  {"vector", "filter", "params", "limit", "offset", "with_payload",
                                   "with_vector", "with_vectors", "score_threshold", "shard_key"},
                                  ""));
  QueryBody out;
  auto vector = body.find("vector");
  if (vector == body.end()) return Invalid("", "missing field 'vector'");
  if (vector->is_array()) {
    out.query.kind = search::PointQuery::Kind::kDense;
    QUARRY_RETURN_IF_ERROR(DecodeFloats(*vector, "vector", &out.query.dense));
  } else if (vector->is_object()) {
    QUARRY_RETURN_IF_ERROR(OnlyKeys(*vector, {"name", "vector"}, "vector"));
    QUARRY_RETURN_IF_ERROR(GetString(*vector, "name", &out.query.using_name, true, "vector"));
    auto values = vector->find("vector");
    if (values == vector->end()) return Invalid("vector", "missing field 'vector.vector'");
    if (values->is_object()) {
      out.query.kind = search::PointQuery::Kind::kSparse;
      QUARRY_RETURN_IF_ERROR(DecodeSparse(*values, "vector.vector", &out.query.sparse));
    } else {
      out.query.kind = search::PointQuery::Kind::kDense;
      QUARRY_RETURN_IF_ERROR(DecodeFloats(*values, "vector.vector", &out.query.dense));
    }
  } else {
    return WrongType("vector", "an array or {\"name\", \"vector\"}", *vector);
  }
  if (auto filter = body.find("filter"); filter != body.end() && !filter->is_null()) {
    QUARRY_ASSIGN_OR_RETURN(out.query.filter, DecodeFilter(*filter, "filter"));
  }
  std::optional<double> threshold;
  QUARRY_RETURN_IF_ERROR(GetOptionalNumber(body, "score_threshold", -1e30, 1e30, &threshold, ""));
  if (threshold) out.query.score_threshold = static_cast<float>(*threshold);
  auto limit = body.find("limit");
  if (limit == body.end()) return Invalid("", "missing field 'limit'");
  QUARRY_RETURN_IF_ERROR(DecodeLimit(body, "limit", &out.query.limit, ""));
  std::optional<int64_t> offset;
  QUARRY_RETURN_IF_ERROR(GetOptionalInt(body, "offset", 0, 100000, &offset));
  if (offset) out.query.offset = static_cast<size_t>(*offset);
  QUARRY_RETURN_IF_ERROR(DecodeParams(body, "", &out.query));
  QUARRY_RETURN_IF_ERROR(DecodeWithPayload(body, &out.with_payload));
  QUARRY_RETURN_IF_ERROR(DecodeWithVector(body, &out.with_vector));
  return out;
}

Result<std::vector<QueryBody>> DecodeBatch(const json& body, bool legacy_search) {
  QUARRY_RETURN_IF_ERROR(OnlyKeys(body, {"searches", "timeout"}, ""));
  auto searches = body.find("searches");
  if (searches == body.end()) return Invalid("", "missing field 'searches'");
  if (!searches->is_array()) return WrongType("searches", "an array", *searches);
  if (searches->size() > kMaxBatchQueries) {
    return TooMany("searches", searches->size(), kMaxBatchQueries);
  }
  std::vector<QueryBody> out;
  for (size_t idx = 0; idx < searches->size(); ++idx) {
    const json& item = (*searches)[idx];
    if (!item.is_object()) return WrongType(At("searches", idx), "an object", item);
    auto decoded = legacy_search ? DecodeSearchPoints(item) : DecodeQuery(item);
    if (!decoded.ok()) {
      return Status(decoded.status().code(), At("searches", idx) + ": " + decoded.status().message());
    }
    out.push_back(std::move(decoded).value());
  }
  return out;
}

}  // namespace quarry::server
