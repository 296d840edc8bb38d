#include "server/wire.h"

#include <cmath>
#include <limits>

#include "common/json_path.h"
#include "server/http.h"
#include "server/wire_internal.h"

namespace quarry::server {

using nlohmann::json;

namespace wire_internal {

Status Invalid(const std::string& where, const std::string& what) {
  return Status::InvalidArgument(where.empty() ? what : where + ": " + what);
}

Status WrongType(const std::string& where, const char* expected, const json& got) {
  return Invalid(where, std::string("expected ") + expected + ", got " + JsonTypeName(got));
}

Status TooMany(const std::string& where, size_t count, size_t limit) {
  return Status::ResourceExhausted(where + " has " + std::to_string(count) +
                                   " items; at most " + std::to_string(limit) +
                                   " are allowed per request");
}

// Checks that `object` has only keys from `known`; names the first other one.
Status OnlyKeys(const json& object, std::initializer_list<std::string_view> known,
                const std::string& where) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    bool found = false;
    for (std::string_view key : known) found = found || it.key() == key;
    if (!found) {
      std::string list;
      for (std::string_view key : known) list += (list.empty() ? "" : ", ") + std::string(key);
      return Invalid(where, "unknown field '" + it.key() + "' (known: " + list + ")");
    }
  }
  return Status::OK();
}

Status GetString(const json& object, const char* key, std::string* out, bool required,
                 const std::string& where) {
  auto it = object.find(key);
  std::string name = where.empty() ? key : where + "." + key;
  if (it == object.end() || (it->is_null() && !required)) {
    return required ? Invalid("", "missing field '" + name + "'") : Status::OK();
  }
  if (!it->is_string()) return WrongType(name, "a string", *it);
  *out = it->get<std::string>();
  return Status::OK();
}

Status GetBool(const json& object, const char* key, bool* out, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return Status::OK();
  std::string name = where.empty() ? key : where + "." + key;
  if (!it->is_boolean()) return WrongType(name, "true or false", *it);
  *out = it->get<bool>();
  return Status::OK();
}

// Integers only (10.0 is refused), within [min, max].
Status GetInt(const json& value, const std::string& name, int64_t min, int64_t max, int64_t* out) {
  if (!value.is_number_integer()) return WrongType(name, "an integer", value);
  if (value.is_number_unsigned()) {
    uint64_t v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(max)) {
      return Invalid(name, "must be at most " + std::to_string(max));
    }
    *out = static_cast<int64_t>(v);
  } else {
    *out = value.get<int64_t>();
  }
  if (*out < min) return Invalid(name, "must be at least " + std::to_string(min));
  if (*out > max) return Invalid(name, "must be at most " + std::to_string(max));
  return Status::OK();
}

Status GetOptionalInt(const json& object, const char* key, int64_t min, int64_t max,
                      std::optional<int64_t>* out, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return Status::OK();
  int64_t v = 0;
  QUARRY_RETURN_IF_ERROR(GetInt(*it, where.empty() ? key : where + "." + key, min, max, &v));
  *out = v;
  return Status::OK();
}

Status GetOptionalNumber(const json& object, const char* key, double min, double max,
                         std::optional<double>* out, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return Status::OK();
  std::string name = where.empty() ? key : where + "." + key;
  if (!it->is_number()) return WrongType(name, "a number", *it);
  double v = it->get<double>();
  if (!(v >= min && v <= max)) {
    return Invalid(name, "must be between " + json(min).dump() + " and " + json(max).dump());
  }
  *out = v;
  return Status::OK();
}

}  // namespace wire_internal

using namespace wire_internal;  // NOLINT: this file's own helpers

namespace {

// LMDB keys are at most 511 bytes; document ids are keys.
constexpr size_t kMaxDocumentIdBytes = 500;

// A string or an array of strings, each non-empty.
Status GetTextList(const json& value, const std::string& name, size_t max_items,
                   std::vector<std::string>* out) {
  if (value.is_string()) {
    if (value.get_ref<const std::string&>().empty()) return Invalid(name, "must not be empty");
    out->push_back(value.get<std::string>());
    return Status::OK();
  }
  if (!value.is_array()) return WrongType(name, "a string or an array of strings", value);
  if (value.empty()) return Invalid(name, "must not be an empty array");
  if (value.size() > max_items) return TooMany(name, value.size(), max_items);
  out->reserve(value.size());
  for (size_t idx = 0; idx < value.size(); ++idx) {
    const json& item = value[idx];
    std::string item_name = name + "[" + std::to_string(idx) + "]";
    if (!item.is_string()) return WrongType(item_name, "a string", item);
    if (item.get_ref<const std::string&>().empty()) return Invalid(item_name, "must not be empty");
    out->push_back(item.get<std::string>());
  }
  return Status::OK();
}

Status GetTokenArray(const json& value, const std::string& name, std::vector<int64_t>* out) {
  if (value.empty()) return Invalid(name, "must not be an empty array");
  for (size_t idx = 0; idx < value.size(); ++idx) {
    int64_t token = 0;
    QUARRY_RETURN_IF_ERROR(GetInt(value[idx], name + "[" + std::to_string(idx) + "]", 0,
                                  std::numeric_limits<int32_t>::max(), &token));
    out->push_back(token);
  }
  return Status::OK();
}

// The deepest nesting of arrays and objects, stopping early past `limit`.
size_t JsonDepth(std::string_view text, size_t limit) {
  size_t depth = 0;
  size_t max_depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
      if (max_depth > limit) return max_depth;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return max_depth;
}

Result<VectorMetric> ParseDistance(const json& value, const std::string& name) {
  if (!value.is_string()) return WrongType(name, "a string", value);
  const std::string& text = value.get_ref<const std::string&>();
  if (text == "Cosine") return VectorMetric::kCosine;
  if (text == "Dot") return VectorMetric::kDot;
  if (text == "Euclid") return VectorMetric::kL2;
  if (text == "Manhattan") return Invalid(name, "distance 'Manhattan' is not supported");
  return Invalid(name, "unknown distance '" + text + "' (use Cosine, Dot or Euclid)");
}

Status ApplyHnswConfig(const json& value, const std::string& name, DenseVectorConfig* config) {
  if (value.is_null()) return Status::OK();
  if (!value.is_object()) return WrongType(name, "an object", value);
  std::optional<int64_t> m;
  std::optional<int64_t> ef_construct;
  QUARRY_RETURN_IF_ERROR(GetOptionalInt(value, "m", 2, 256, &m, name));
  QUARRY_RETURN_IF_ERROR(GetOptionalInt(value, "ef_construct", 1, 100000, &ef_construct, name));
  // full_scan_threshold, max_indexing_threads, on_disk, payload_m: accepted, not used.
  if (m) config->hnsw_m = static_cast<uint32_t>(*m);
  if (ef_construct) config->hnsw_ef_construction = static_cast<uint32_t>(*ef_construct);
  return Status::OK();
}

Status ApplyQuantization(const json& value, const std::string& name, DenseVectorConfig* config) {
  if (value.is_null()) return Status::OK();
  if (!value.is_object()) return WrongType(name, "an object", value);
  if (value.size() != 1) return Invalid(name, "expected one of 'scalar' or 'binary'");
  if (value.contains("scalar")) {
    const json& scalar = value["scalar"];
    if (!scalar.is_object()) return WrongType(name + ".scalar", "an object", scalar);
    std::string type = "int8";
    QUARRY_RETURN_IF_ERROR(GetString(scalar, "type", &type, false, name + ".scalar"));
    if (type != "int8") return Invalid(name + ".scalar.type", "only 'int8' is supported");
    std::optional<double> quantile;
    QUARRY_RETURN_IF_ERROR(GetOptionalNumber(scalar, "quantile", 0.5, 1.0, &quantile, name + ".scalar"));
    config->quantization = VectorQuantization::kInt8;
    return Status::OK();
  }
  if (value.contains("binary")) {
    if (!value["binary"].is_object()) return WrongType(name + ".binary", "an object", value["binary"]);
    config->quantization = VectorQuantization::kBinary;
    return Status::OK();
  }
  if (value.contains("product")) return Invalid(name, "product quantization is not supported");
  return Invalid(name, "unknown quantization '" + value.begin().key() + "' (use scalar or binary)");
}

Status DecodeVectorParams(const json& value, const std::string& name, const DenseVectorConfig& defaults,
                          DenseVectorConfig* config) {
  if (!value.is_object()) return WrongType(name, "an object", value);
  QUARRY_RETURN_IF_ERROR(OnlyKeys(value,
                                  {"size", "distance", "hnsw_config", "quantization_config",
                                   "on_disk", "datatype", "multivector_config"},
                                  name));
  config->hnsw_m = defaults.hnsw_m;
  config->hnsw_ef_construction = defaults.hnsw_ef_construction;
  config->quantization = defaults.quantization;
  auto size = value.find("size");
  if (size == value.end()) return Invalid("", "missing field '" + name + ".size'");
  int64_t dim = 0;
  QUARRY_RETURN_IF_ERROR(GetInt(*size, name + ".size", 1, 65536, &dim));
  config->dim = static_cast<size_t>(dim);
  auto distance = value.find("distance");
  if (distance == value.end()) return Invalid("", "missing field '" + name + ".distance'");
  QUARRY_ASSIGN_OR_RETURN(config->metric, ParseDistance(*distance, name + ".distance"));
  if (auto it = value.find("hnsw_config"); it != value.end()) {
    QUARRY_RETURN_IF_ERROR(ApplyHnswConfig(*it, name + ".hnsw_config", config));
  }
  if (auto it = value.find("quantization_config"); it != value.end()) {
    QUARRY_RETURN_IF_ERROR(ApplyQuantization(*it, name + ".quantization_config", config));
  }
  if (auto it = value.find("datatype"); it != value.end() && !it->is_null()) {
    if (!it->is_string() || it->get_ref<const std::string&>() != "float32") {
      return Invalid(name + ".datatype", "only 'float32' is supported");
    }
  }
  if (auto it = value.find("multivector_config"); it != value.end() && !it->is_null()) {
    return Invalid(name + ".multivector_config", "multivectors are not supported");
  }
  return Status::OK();
}

}  // namespace

const char* JsonTypeName(const nlohmann::json& value) {
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "object";
    case json::value_t::array: return "array";
    case json::value_t::string: return "string";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return "number";
    case json::value_t::binary: return "binary";
    case json::value_t::discarded: return "invalid";
  }
  return "unknown";
}

Result<nlohmann::json> ParseJsonObject(std::string_view body, size_t max_depth) {
  size_t first = body.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    return Status::InvalidArgument("request body is empty: expected a JSON object");
  }
  size_t bad = 0;
  if (!ValidUtf8(body, &bad)) {
    return Status::InvalidArgument("request body is not valid UTF-8 (byte offset " +
                                   std::to_string(bad) + ")");
  }
  if (JsonDepth(body, max_depth) > max_depth) {
    return Status::InvalidArgument("JSON nests deeper than " + std::to_string(max_depth) + " levels");
  }
  json value;
  try {
    value = json::parse(body);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 2: ..."
    size_t bracket = what.find("] ");
    if (bracket != std::string::npos) what = what.substr(bracket + 2);
    return Status::InvalidArgument("malformed JSON: " + what);
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("malformed JSON: ") + e.what());
  }
  if (!value.is_object()) {
    return Status::InvalidArgument(std::string("expected a JSON object, got ") + JsonTypeName(value));
  }
  return value;
}

Result<EmbeddingsRequest> DecodeEmbeddingsRequest(const nlohmann::json& body,
                                                  const DecodeLimits& limits) {
  EmbeddingsRequest request;
  QUARRY_RETURN_IF_ERROR(GetString(body, "model", &request.model, false));
  auto input = body.find("input");
  if (input == body.end()) return Invalid("", "missing field 'input'");
  if (input->is_array() && !input->empty() && !(*input)[0].is_string()) {
    if ((*input)[0].is_number_integer()) {
      // One token array.
      std::vector<int64_t> tokens;
      if (input->size() > limits.max_inputs * 512) {
        return TooMany("input", input->size(), limits.max_inputs * 512);
      }
      QUARRY_RETURN_IF_ERROR(GetTokenArray(*input, "input", &tokens));
      request.token_inputs.push_back(std::move(tokens));
    } else if ((*input)[0].is_array()) {
      if (input->size() > limits.max_inputs) return TooMany("input", input->size(), limits.max_inputs);
      for (size_t idx = 0; idx < input->size(); ++idx) {
        const json& item = (*input)[idx];
        std::string name = "input[" + std::to_string(idx) + "]";
        if (!item.is_array()) return WrongType(name, "an array of token ids", item);
        std::vector<int64_t> tokens;
        QUARRY_RETURN_IF_ERROR(GetTokenArray(item, name, &tokens));
        request.token_inputs.push_back(std::move(tokens));
      }
    } else {
      return WrongType("input[0]", "a string, a token id or an array of token ids", (*input)[0]);
    }
  } else {
    QUARRY_RETURN_IF_ERROR(GetTextList(*input, "input", limits.max_inputs, &request.texts));
  }
  std::string format = "float";
  QUARRY_RETURN_IF_ERROR(GetString(body, "encoding_format", &format, false));
  if (format == "base64") {
    request.base64 = true;
  } else if (format != "float") {
    return Invalid("encoding_format", "must be 'float' or 'base64', not '" + format + "'");
  }
  QUARRY_RETURN_IF_ERROR(GetOptionalInt(body, "dimensions", 1, 65536, &request.dimensions));
  std::string user;
  QUARRY_RETURN_IF_ERROR(GetString(body, "user", &user, false));
  return request;
}

Result<RerankRequest> DecodeRerankRequest(const nlohmann::json& body, const DecodeLimits& limits) {
  RerankRequest request;
  QUARRY_RETURN_IF_ERROR(GetString(body, "model", &request.model, false));
  QUARRY_RETURN_IF_ERROR(GetString(body, "query", &request.query, true));
  if (request.query.empty()) return Invalid("query", "must not be empty");
  auto documents = body.find("documents");
  if (documents == body.end()) return Invalid("", "missing field 'documents'");
  if (!documents->is_array()) return WrongType("documents", "an array", *documents);
  if (documents->empty()) return Invalid("documents", "must not be an empty array");
  if (documents->size() > limits.max_rerank_documents) {
    return TooMany("documents", documents->size(), limits.max_rerank_documents);
  }
  for (size_t idx = 0; idx < documents->size(); ++idx) {
    const json& item = (*documents)[idx];
    std::string name = "documents[" + std::to_string(idx) + "]";
    if (item.is_string()) {
      request.documents.push_back(item.get<std::string>());
    } else if (item.is_object()) {
      std::string text;
      QUARRY_RETURN_IF_ERROR(GetString(item, "text", &text, true, name));
      request.documents.push_back(std::move(text));
    } else {
      return WrongType(name, "a string or an object with 'text'", item);
    }
  }
  std::optional<int64_t> top_n;
  QUARRY_RETURN_IF_ERROR(GetOptionalInt(body, "top_n", 1, std::numeric_limits<int32_t>::max(), &top_n));
  if (top_n) request.top_n = static_cast<size_t>(*top_n);
  QUARRY_RETURN_IF_ERROR(GetBool(body, "return_documents", &request.return_documents));
  return request;
}

Result<TeiEmbedRequest> DecodeTeiEmbedRequest(const nlohmann::json& body,
                                              const DecodeLimits& limits) {
  TeiEmbedRequest request;
  QUARRY_RETURN_IF_ERROR(GetString(body, "model", &request.model, false));
  auto inputs = body.find("inputs");
  if (inputs == body.end()) return Invalid("", "missing field 'inputs'");
  QUARRY_RETURN_IF_ERROR(GetTextList(*inputs, "inputs", limits.max_inputs, &request.inputs));
  QUARRY_RETURN_IF_ERROR(GetBool(body, "normalize", &request.normalize));
  bool truncate = true;
  QUARRY_RETURN_IF_ERROR(GetBool(body, "truncate", &truncate));
  std::string ignored;
  QUARRY_RETURN_IF_ERROR(GetString(body, "truncation_direction", &ignored, false));
  QUARRY_RETURN_IF_ERROR(GetString(body, "prompt_name", &ignored, false));
  return request;
}

Result<TeiRerankRequest> DecodeTeiRerankRequest(const nlohmann::json& body,
                                                const DecodeLimits& limits) {
  TeiRerankRequest request;
  QUARRY_RETURN_IF_ERROR(GetString(body, "model", &request.model, false));
  QUARRY_RETURN_IF_ERROR(GetString(body, "query", &request.query, true));
  if (request.query.empty()) return Invalid("query", "must not be empty");
  auto texts = body.find("texts");
  if (texts == body.end()) return Invalid("", "missing field 'texts'");
  if (!texts->is_array()) return WrongType("texts", "an array of strings", *texts);
  QUARRY_RETURN_IF_ERROR(GetTextList(*texts, "texts", limits.max_rerank_documents, &request.texts));
  QUARRY_RETURN_IF_ERROR(GetBool(body, "raw_scores", &request.raw_scores));
  QUARRY_RETURN_IF_ERROR(GetBool(body, "return_text", &request.return_text));
  bool truncate = true;
  QUARRY_RETURN_IF_ERROR(GetBool(body, "truncate", &truncate));
  std::string ignored;
  QUARRY_RETURN_IF_ERROR(GetString(body, "truncation_direction", &ignored, false));
  return request;
}

Result<DocumentsRequest> DecodeDocumentsRequest(const nlohmann::json& body,
                                                const DecodeLimits& limits) {
  QUARRY_RETURN_IF_ERROR(OnlyKeys(body, {"documents", "wait"}, ""));
  DocumentsRequest request;
  QUARRY_RETURN_IF_ERROR(GetBool(body, "wait", &request.wait));
  auto documents = body.find("documents");
  if (documents == body.end()) return Invalid("", "missing field 'documents'");
  if (!documents->is_array()) return WrongType("documents", "an array", *documents);
  if (documents->empty()) return Invalid("documents", "must not be an empty array");
  if (documents->size() > limits.max_documents) {
    return TooMany("documents", documents->size(), limits.max_documents);
  }
  request.documents.reserve(documents->size());
  for (size_t idx = 0; idx < documents->size(); ++idx) {
    const json& item = (*documents)[idx];
    std::string name = "documents[" + std::to_string(idx) + "]";
    if (!item.is_object()) return WrongType(name, "an object", item);
    QUARRY_RETURN_IF_ERROR(OnlyKeys(
        item, {"id", "text", "html", "markdown", "title", "source", "metadata"}, name));
    DocumentInput doc;
    auto id = item.find("id");
    if (id == item.end()) return Invalid("", "missing field '" + name + ".id'");
    if (id->is_string()) {
      doc.id = id->get<std::string>();
    } else if (id->is_number_integer()) {
      doc.id = id->dump();
    } else {
      return WrongType(name + ".id", "a string or an integer", *id);
    }
    if (doc.id.empty()) return Invalid(name + ".id", "must not be empty");
    if (doc.id.size() > kMaxDocumentIdBytes) {
      return Invalid(name + ".id", "is longer than " + std::to_string(kMaxDocumentIdBytes) + " bytes");
    }
    int formats = 0;
    for (auto [key, format] : {std::pair{"text", DocumentFormat::kText},
                               std::pair{"html", DocumentFormat::kHtml},
                               std::pair{"markdown", DocumentFormat::kMarkdown}}) {
      auto it = item.find(key);
      if (it == item.end()) continue;
      ++formats;
      if (!it->is_string()) return WrongType(name + "." + key, "a string", *it);
      doc.format = format;
      doc.content = it->get<std::string>();
    }
    if (formats != 1) {
      return Invalid(name, "give exactly one of 'text', 'html' or 'markdown'");
    }
    std::string title;
    if (auto it = item.find("title"); it != item.end() && !it->is_null()) {
      QUARRY_RETURN_IF_ERROR(GetString(item, "title", &title, false, name));
      doc.title = std::move(title);
    }
    QUARRY_RETURN_IF_ERROR(GetString(item, "source", &doc.source, false, name));
    if (auto it = item.find("metadata"); it != item.end() && !it->is_null()) {
      if (!it->is_object()) return WrongType(name + ".metadata", "an object", *it);
      if (!it->empty()) doc.metadata = it->dump(-1, ' ', false, json::error_handler_t::replace);
    }
    request.documents.push_back(std::move(doc));
  }
  return request;
}

Result<SearchBody> DecodeSearchBody(const nlohmann::json& body) {
  QUARRY_RETURN_IF_ERROR(
      OnlyKeys(body, {"query", "limit", "offset", "with_text", "using", "params", "mode", "rerank",
                      "rerank_top", "fusion", "filter"}, ""));
  SearchBody search;
  QUARRY_RETURN_IF_ERROR(GetString(body, "query", &search.query, true));
  std::optional<int64_t> limit;
  std::optional<int64_t> offset;
  QUARRY_RETURN_IF_ERROR(GetOptionalInt(body, "limit", 1, 10000, &limit));
  QUARRY_RETURN_IF_ERROR(GetOptionalInt(body, "offset", 0, 100000, &offset));
  if (limit) search.limit = static_cast<size_t>(*limit);
  if (offset) search.offset = static_cast<size_t>(*offset);
  QUARRY_RETURN_IF_ERROR(GetBool(body, "with_text", &search.with_text));
  QUARRY_RETURN_IF_ERROR(GetString(body, "using", &search.using_vector, false));
  QUARRY_RETURN_IF_ERROR(GetString(body, "mode", &search.mode, false));
  if (!search.mode.empty() && search.mode != "hybrid" && search.mode != "dense" &&
      search.mode != "sparse") {
    return Status::InvalidArgument("mode: expected \"hybrid\", \"dense\" or \"sparse\"");
  }
  QUARRY_RETURN_IF_ERROR(GetString(body, "rerank", &search.rerank, false));
  if (search.rerank != "off" && search.rerank != "on" && search.rerank != "auto") {
    return Status::InvalidArgument("rerank: expected \"off\", \"on\" or \"auto\"");
  }
  std::optional<int64_t> rerank_top;
  QUARRY_RETURN_IF_ERROR(GetOptionalInt(body, "rerank_top", 1, 1000, &rerank_top));
  if (rerank_top) search.rerank_top = static_cast<size_t>(*rerank_top);
  // "fusion": "rrf" | "dbsf" | {"rrf": {"k": 60, "weights": [0.7, 0.3]}}
  if (auto fusion = body.find("fusion"); fusion != body.end() && !fusion->is_null()) {
    if (fusion->is_string()) {
      search.fusion = fusion->get<std::string>();
      if (search.fusion != "rrf" && search.fusion != "dbsf") {
        return Status::InvalidArgument("fusion: expected \"rrf\" or \"dbsf\"");
      }
    } else if (fusion->is_object() && fusion->contains("rrf") && fusion->size() == 1) {
      const json& rrf = (*fusion)["rrf"];
      if (!rrf.is_object()) return WrongType("fusion.rrf", "an object", rrf);
      QUARRY_RETURN_IF_ERROR(OnlyKeys(rrf, {"k", "weights"}, "fusion.rrf"));
      std::optional<int64_t> k;
      QUARRY_RETURN_IF_ERROR(GetOptionalInt(rrf, "k", 1, 100000, &k, "fusion.rrf"));
      if (k) search.rrf_k = static_cast<int>(*k);
      if (auto w = rrf.find("weights"); w != rrf.end() && !w->is_null()) {
        if (!w->is_array() || w->size() > 16) {
          return WrongType("fusion.rrf.weights", "an array of up to 16 numbers", *w);
        }
        for (const json& v : *w) {
          if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0) {
            return WrongType("fusion.rrf.weights", "non-negative numbers", v);
          }
          search.weights.push_back(v.get<float>());
        }
      }
    } else {
      return WrongType("fusion", "\"rrf\", \"dbsf\" or {\"rrf\": {...}}", *fusion);
    }
  }
  if (auto filter = body.find("filter"); filter != body.end() && !filter->is_null()) {
    QUARRY_ASSIGN_OR_RETURN(search.filter, DecodeFilter(*filter, "filter"));
  }
  if (auto params = body.find("params"); params != body.end() && !params->is_null()) {
    if (!params->is_object()) return WrongType("params", "an object", *params);
    QUARRY_RETURN_IF_ERROR(OnlyKeys(*params, {"hnsw_ef", "exact"}, "params"));
    std::optional<int64_t> ef;
    QUARRY_RETURN_IF_ERROR(GetOptionalInt(*params, "hnsw_ef", 1, 100000, &ef, "params"));
    if (ef) search.hnsw_ef = static_cast<size_t>(*ef);
    QUARRY_RETURN_IF_ERROR(GetBool(*params, "exact", &search.exact, "params"));
  }
  return search;
}

// ---- filters ----

namespace {

Status CheckKeyPath(const json& object, const std::string& where, std::string* key) {
  auto it = object.find("key");
  if (it == object.end()) return Invalid("", "missing field '" + where + ".key'");
  if (!it->is_string()) return WrongType(where + ".key", "a string", *it);
  *key = it->get<std::string>();
  auto path = ParseJsonPath(*key);
  if (!path.ok()) return Invalid(where + ".key", path.status().message());
  return Status::OK();
}

Result<MatchValue> DecodeMatchValue(const json& value, const std::string& where) {
  if (value.is_string()) return MatchValue(value.get<std::string>());
  if (value.is_boolean()) return MatchValue(value.get<bool>());
  if (value.is_number_integer()) {
    int64_t v = 0;
    QUARRY_RETURN_IF_ERROR(GetInt(value, where, std::numeric_limits<int64_t>::min(),
                                  std::numeric_limits<int64_t>::max(), &v));
    return MatchValue(v);
  }
  return WrongType(where, "a string, an integer or a boolean", value);
}

// match.any / match.except: all strings or all integers (Qdrant's AnyVariants).
Status DecodeMatchList(const json& value, const std::string& where, std::vector<MatchValue>* out) {
  if (!value.is_array()) return WrongType(where, "an array of strings or of integers", value);
  for (size_t idx = 0; idx < value.size(); ++idx) {
    const json& item = value[idx];
    const std::string name = where + "[" + std::to_string(idx) + "]";
    if (!item.is_string() && !item.is_number_integer()) {
      return WrongType(name, "a string or an integer", item);
    }
    if (idx > 0 && item.is_string() != value[0].is_string()) {
      return Invalid(name, std::string("expected ") + (value[0].is_string() ? "a string" : "an integer") +
                               " like the first value (all strings or all integers)");
    }
    QUARRY_ASSIGN_OR_RETURN(MatchValue v, DecodeMatchValue(item, name));
    out->push_back(std::move(v));
  }
  return Status::OK();
}

Result<Condition> DecodeFieldCondition(const json& value, const std::string& where) {
  QUARRY_RETURN_IF_ERROR(OnlyKeys(value,
                                  {"key", "match", "range", "geo_bounding_box", "geo_radius",
                                   "geo_polygon", "values_count"},
                                  where));
  FieldCondition field;
  QUARRY_RETURN_IF_ERROR(CheckKeyPath(value, where, &field.key));
  for (const char* unsupported : {"geo_bounding_box", "geo_radius", "geo_polygon", "values_count"}) {
    if (auto it = value.find(unsupported); it != value.end() && !it->is_null()) {
      return Invalid(where, std::string(unsupported) + " conditions are not supported");
    }
  }
  auto match = value.find("match");
  auto range = value.find("range");
  const bool has_match = match != value.end() && !match->is_null();
  const bool has_range = range != value.end() && !range->is_null();
  if (has_match == has_range) return Invalid(where, "give exactly one of 'match' or 'range'");
  if (has_match) {
    const std::string name = where + ".match";
    if (!match->is_object()) return WrongType(name, "an object", *match);
    QUARRY_RETURN_IF_ERROR(OnlyKeys(*match, {"value", "any", "except", "text", "phrase", "text_any"}, name));
    if (match->size() != 1) return Invalid(name, "give exactly one of 'value', 'any', 'except' or 'text'");
    const std::string kind = match->begin().key();
    const json& operand = match->begin().value();
    if (kind == "value") {
      field.op = FieldCondition::Op::kMatch;
      QUARRY_ASSIGN_OR_RETURN(MatchValue v, DecodeMatchValue(operand, name + ".value"));
      field.values.push_back(std::move(v));
    } else if (kind == "any" || kind == "except") {
      field.op = kind == "any" ? FieldCondition::Op::kMatchAny : FieldCondition::Op::kMatchExcept;
      QUARRY_RETURN_IF_ERROR(DecodeMatchList(operand, name + "." + kind, &field.values));
    } else if (kind == "text") {
      field.op = FieldCondition::Op::kMatchText;
      if (!operand.is_string()) return WrongType(name + ".text", "a string", operand);
      field.text = operand.get<std::string>();
    } else {
      return Invalid(name, "'" + kind + "' matching is not supported (use value, any, except or text)");
    }
    return Condition{std::move(field)};
  }
  const std::string name = where + ".range";
  if (!range->is_object()) return WrongType(name, "an object", *range);
  QUARRY_RETURN_IF_ERROR(OnlyKeys(*range, {"gt", "gte", "lt", "lte"}, name));
  field.op = FieldCondition::Op::kRange;
  for (auto [bound_name, bound] :
       {std::pair{"gt", &field.range.gt}, std::pair{"gte", &field.range.gte},
        std::pair{"lt", &field.range.lt}, std::pair{"lte", &field.range.lte}}) {
    auto it = range->find(bound_name);
    if (it == range->end() || it->is_null()) continue;
    if (!it->is_number()) return WrongType(name + "." + bound_name, "a number", *it);
    *bound = it->get<double>();
  }
  return Condition{std::move(field)};
}

Result<Condition> DecodeCondition(const json& value, const std::string& where) {
  if (!value.is_object()) return WrongType(where, "an object (a condition)", value);
  if (value.contains("key")) return DecodeFieldCondition(value, where);
  for (const char* kind : {"is_empty", "is_null"}) {
    auto it = value.find(kind);
    if (it == value.end()) continue;
    QUARRY_RETURN_IF_ERROR(OnlyKeys(value, {kind}, where));
    const std::string name = where + "." + kind;
    if (!it->is_object()) return WrongType(name, "an object with 'key'", *it);
    QUARRY_RETURN_IF_ERROR(OnlyKeys(*it, {"key"}, name));
    std::string key;
    QUARRY_RETURN_IF_ERROR(CheckKeyPath(*it, name, &key));
    return std::string_view(kind) == "is_empty" ? Condition::IsEmpty(std::move(key))
                                                : Condition::IsNull(std::move(key));
  }
  if (auto it = value.find("has_id"); it != value.end()) {
    QUARRY_RETURN_IF_ERROR(OnlyKeys(value, {"has_id"}, where));
    const std::string name = where + ".has_id";
    if (!it->is_array()) return WrongType(name, "an array of point ids", *it);
    HasIdCondition has_id;
    has_id.ids.reserve(it->size());
    for (size_t idx = 0; idx < it->size(); ++idx) {
      const json& id = (*it)[idx];
      if (id.is_string()) {
        auto uuid = CanonicalUuid(id.get_ref<const std::string&>());
        if (!uuid.ok()) return Invalid(name + "[" + std::to_string(idx) + "]", uuid.status().message());
        has_id.uuids.push_back(std::move(uuid).value());
        continue;
      }
      if (!id.is_number_unsigned() && !(id.is_number_integer() && id.get<int64_t>() >= 0)) {
        return WrongType(name + "[" + std::to_string(idx) + "]",
                         "a point id (an unsigned integer or a UUID)", id);
      }
      has_id.ids.push_back(id.get<uint64_t>());
    }
    return Condition{std::move(has_id)};
  }
  for (const char* unsupported : {"nested", "has_vector"}) {
    if (value.contains(unsupported)) {
      return Invalid(where, std::string("'") + unsupported + "' conditions are not supported");
    }
  }
  if (value.empty() || value.contains("must") || value.contains("should") ||
      value.contains("must_not") || value.contains("min_should")) {
    QUARRY_ASSIGN_OR_RETURN(Filter nested, DecodeFilter(value, where));
    return Condition::Nested(std::move(nested));
  }
  return Invalid(where,
                 "expected a condition: {\"key\", \"match\" or \"range\"}, {\"is_empty\"}, "
                 "{\"is_null\"}, {\"has_id\"} or a nested filter {\"must\", \"should\", "
                 "\"must_not\"} (got fields: " + value.begin().key() + ")");
}

// A list of conditions, or one condition alone.
Status DecodeConditions(const json& value, const std::string& where, std::vector<Condition>* out) {
  if (value.is_object()) {
    QUARRY_ASSIGN_OR_RETURN(Condition c, DecodeCondition(value, where));
    out->push_back(std::move(c));
    return Status::OK();
  }
  if (!value.is_array()) return WrongType(where, "an array of conditions", value);
  out->reserve(value.size());
  for (size_t idx = 0; idx < value.size(); ++idx) {
    QUARRY_ASSIGN_OR_RETURN(Condition c,
                            DecodeCondition(value[idx], where + "[" + std::to_string(idx) + "]"));
    out->push_back(std::move(c));
  }
  return Status::OK();
}

}  // namespace

Result<Filter> DecodeFilter(const nlohmann::json& value, const std::string& where) {
  if (!value.is_object()) return WrongType(where, "an object", value);
  QUARRY_RETURN_IF_ERROR(OnlyKeys(value, {"must", "should", "must_not", "min_should"}, where));
  if (auto it = value.find("min_should"); it != value.end() && !it->is_null()) {
    return Invalid(where + ".min_should", "is not supported");
  }
  Filter filter;
  for (auto [name, list] : {std::pair{"must", &filter.must}, std::pair{"should", &filter.should},
                            std::pair{"must_not", &filter.must_not}}) {
    auto it = value.find(name);
    if (it == value.end() || it->is_null()) continue;
    QUARRY_RETURN_IF_ERROR(DecodeConditions(*it, where + "." + name, list));
  }
  return filter;
}

Result<CreateIndexBody> DecodeCreateIndex(const nlohmann::json& body) {
  QUARRY_RETURN_IF_ERROR(OnlyKeys(body, {"field_name", "field_schema"}, ""));
  CreateIndexBody index;
  QUARRY_RETURN_IF_ERROR(GetString(body, "field_name", &index.field_name, true));
  auto path = ParseJsonPath(index.field_name);
  if (!path.ok()) return Invalid("field_name", path.status().message());
  auto schema = body.find("field_schema");
  if (schema == body.end() || schema->is_null()) return Invalid("", "missing field 'field_schema'");
  std::string type;
  std::string where = "field_schema";
  if (schema->is_string()) {
    type = schema->get<std::string>();
  } else if (schema->is_object()) {
    // Qdrant's parameterised form; its tuning options mean nothing here.
    QUARRY_RETURN_IF_ERROR(GetString(*schema, "type", &type, true, "field_schema"));
    where = "field_schema.type";
  } else {
    return WrongType("field_schema", "a string or an object with 'type'", *schema);
  }
  if (type == "keyword") {
    index.type = PayloadIndexType::kKeyword;
  } else if (type == "integer") {
    index.type = PayloadIndexType::kInteger;
  } else if (type == "float") {
    index.type = PayloadIndexType::kFloat;
  } else if (type == "bool") {
    index.type = PayloadIndexType::kBool;
  } else if (type == "geo" || type == "text" || type == "datetime" || type == "uuid") {
    return Invalid(where, "'" + type + "' indexes are not supported (use keyword, integer, float or bool)");
  } else {
    return Invalid(where, "unknown index type '" + type + "' (use keyword, integer, float or bool)");
  }
  return index;
}

Result<CollectionOptions> DecodeCreateCollection(const nlohmann::json& body) {
  // Qdrant fields that have no meaning for an embedded single-node store are
  // accepted and ignored; anything else unknown is an error (a typo would
  // otherwise create a collection without the vectors the caller wanted).
  QUARRY_RETURN_IF_ERROR(OnlyKeys(
      body,
      {"vectors", "hnsw_config", "quantization_config", "sparse_vectors", "quarry", "shard_number",
       "sharding_method", "replication_factor", "write_consistency_factor", "on_disk_payload",
       "optimizers_config", "wal_config", "init_from", "timeout", "strict_mode_config",
       "metadata"},
      ""));
  CollectionOptions options;
  DenseVectorConfig defaults;
  if (auto it = body.find("hnsw_config"); it != body.end()) {
    QUARRY_RETURN_IF_ERROR(ApplyHnswConfig(*it, "hnsw_config", &defaults));
  }
  if (auto it = body.find("quantization_config"); it != body.end()) {
    QUARRY_RETURN_IF_ERROR(ApplyQuantization(*it, "quantization_config", &defaults));
  }
  if (auto vectors = body.find("vectors"); vectors != body.end() && !vectors->is_null()) {
    if (!vectors->is_object()) return WrongType("vectors", "an object", *vectors);
    if (vectors->contains("size") || vectors->contains("distance")) {
      DenseVectorConfig config;
      config.name = kDefaultVectorName;
      QUARRY_RETURN_IF_ERROR(DecodeVectorParams(*vectors, "vectors", defaults, &config));
      options.dense_vectors.push_back(std::move(config));
    } else {
      for (auto it = vectors->begin(); it != vectors->end(); ++it) {
        DenseVectorConfig config;
        config.name = it.key();
        QUARRY_RETURN_IF_ERROR(DecodeVectorParams(*it, "vectors." + it.key(), defaults, &config));
        options.dense_vectors.push_back(std::move(config));
      }
    }
  }
  if (auto sparse = body.find("sparse_vectors"); sparse != body.end() && !sparse->is_null()) {
    if (!sparse->is_object()) return WrongType("sparse_vectors", "an object", *sparse);
    for (auto it = sparse->begin(); it != sparse->end(); ++it) {
      const std::string where = "sparse_vectors." + it.key();
      SparseVectorConfig config;
      config.name = it.key();
      if (!it->is_null()) {
        if (!it->is_object()) return WrongType(where, "an object", *it);
        QUARRY_RETURN_IF_ERROR(OnlyKeys(*it, {"index", "modifier"}, where));
        std::string modifier = "none";
        QUARRY_RETURN_IF_ERROR(GetString(*it, "modifier", &modifier, false, where));
        if (modifier == "idf") {
          config.idf = true;
        } else if (modifier != "none") {
          return Invalid(where + ".modifier", "must be \"idf\" or \"none\"");
        }
      }
      options.sparse_vectors.push_back(std::move(config));
    }
  }
  if (auto quarry = body.find("quarry"); quarry != body.end() && !quarry->is_null()) {
    if (!quarry->is_object()) return WrongType("quarry", "an object", *quarry);
    QUARRY_RETURN_IF_ERROR(OnlyKeys(*quarry,
                                    {"chunk_max_tokens", "chunk_overlap_tokens", "bm25_k1",
                                     "bm25_b", "title_boost", "stem", "remove_stop_words",
                                     "rrf_k", "fusion_weights"},
                                    "quarry"));
    std::optional<int64_t> max_tokens;
    std::optional<int64_t> overlap;
    QUARRY_RETURN_IF_ERROR(GetOptionalInt(*quarry, "chunk_max_tokens", 16, 8192, &max_tokens, "quarry"));
    QUARRY_RETURN_IF_ERROR(GetOptionalInt(*quarry, "chunk_overlap_tokens", 0, 4096, &overlap, "quarry"));
    if (max_tokens) options.chunk_max_tokens = static_cast<size_t>(*max_tokens);
    if (overlap) options.chunk_overlap_tokens = static_cast<size_t>(*overlap);
    std::optional<double> k1;
    std::optional<double> b;
    std::optional<double> boost;
    QUARRY_RETURN_IF_ERROR(GetOptionalNumber(*quarry, "bm25_k1", 0, 10, &k1, "quarry"));
    QUARRY_RETURN_IF_ERROR(GetOptionalNumber(*quarry, "bm25_b", 0, 1, &b, "quarry"));
    QUARRY_RETURN_IF_ERROR(GetOptionalNumber(*quarry, "title_boost", 0, 100, &boost, "quarry"));
    if (k1) options.bm25_k1 = static_cast<float>(*k1);
    if (b) options.bm25_b = static_cast<float>(*b);
    if (boost) options.title_boost = static_cast<float>(*boost);
    QUARRY_RETURN_IF_ERROR(GetBool(*quarry, "stem", &options.stem, "quarry"));
    QUARRY_RETURN_IF_ERROR(GetBool(*quarry, "remove_stop_words", &options.remove_stop_words, "quarry"));
    std::optional<int64_t> rrf_k;
    QUARRY_RETURN_IF_ERROR(GetOptionalInt(*quarry, "rrf_k", 1, 100000, &rrf_k, "quarry"));
    if (rrf_k) options.rrf_k = static_cast<int>(*rrf_k);
    if (auto w = quarry->find("fusion_weights"); w != quarry->end() && !w->is_null()) {
      if (!w->is_array() || w->size() != 2) {
        return WrongType("quarry.fusion_weights", "two numbers (dense, sparse)", *w);
      }
      for (const json& v : *w) {
        if (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 1e6) {
          return WrongType("quarry.fusion_weights", "non-negative numbers", v);
        }
        options.fusion_weights.push_back(v.get<float>());
      }
    }
  }
  return options;
}

std::string Base64Encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8) |
                 uint8_t(bytes[i + 2]);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (rest == 2) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

}  // namespace quarry::server
