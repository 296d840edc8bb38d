// libFuzzer target: HTTP/1.1 request decoding and the JSON request bodies of
// the server (embeddings, rerank, TEI, documents, search with its filter,
// create collection, create payload index, and the Qdrant points routes:
// upsert, retrieve, selectors, payload updates, scroll, count, search, query
// and their batches).
//
// The input is read as a stream of pipelined requests, once whole and once fed
// in pieces (sizes taken from the first byte), and both readings must agree.
// Every complete request's body, and the whole input itself, goes through
// every body decoder. Traps when a contract breaks: a parse that consumes
// more than it was given, an error without a message or outside 4xx/5xx, a
// decoder that accepts more items than its limit or returns an empty error.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_path.h"
#include "server/http.h"
#include "server/points_wire.h"
#include "server/wire.h"

namespace {

using quarry::server::RequestParser;

struct Outcome {
  std::vector<std::string> bodies;  // of complete requests, in order
  std::vector<std::string> paths;
  int error = 0;  // status of the error that ended the stream, if any
};

quarry::server::ParserLimits Limits() {
  quarry::server::ParserLimits limits;
  limits.max_header_bytes = 4096;
  limits.max_headers = 32;
  limits.max_body_bytes = 16384;
  return limits;
}

void CheckState(RequestParser& parser, RequestParser::State state, size_t buffered) {
  if (state == RequestParser::State::kComplete) {
    if (parser.consumed() == 0 || parser.consumed() > buffered) __builtin_trap();
    if (parser.request().path.empty() && parser.request().target != "*") __builtin_trap();
  } else if (state == RequestParser::State::kError) {
    int status = parser.error().status;
    if (status < 400 || status >= 600 || parser.error().message.empty()) __builtin_trap();
  }
}

// Feeds `input` in pieces of `step` bytes (0: all at once), as a connection would.
Outcome ParseStream(std::string_view input, size_t step) {
  Outcome outcome;
  RequestParser parser(Limits());
  std::string buffer;
  size_t fed = 0;
  while (true) {
    size_t take = step == 0 ? input.size() - fed : std::min(step, input.size() - fed);
    buffer.append(input.substr(fed, take));
    fed += take;
    while (!buffer.empty()) {
      RequestParser::State state = parser.Parse(buffer);
      CheckState(parser, state, buffer.size());
      if (state == RequestParser::State::kNeedMore) break;
      if (state == RequestParser::State::kError) {
        outcome.error = parser.error().status;
        return outcome;
      }
      outcome.bodies.push_back(parser.request().body);
      outcome.paths.push_back(parser.request().path);
      buffer.erase(0, parser.consumed());
      parser.Reset();
    }
    if (fed >= input.size()) return outcome;
  }
}

// A decoded filter holds only what the engine can evaluate: keys that parse
// as paths, exactly one value per plain match, no non-finite range bounds.
void CheckFilter(const quarry::Filter& filter) {
  for (const auto* list : {&filter.must, &filter.should, &filter.must_not}) {
    for (const quarry::Condition& condition : *list) {
      if (const auto* nested = std::get_if<quarry::Filter>(&condition.value)) {
        CheckFilter(*nested);
        continue;
      }
      const auto* field = std::get_if<quarry::FieldCondition>(&condition.value);
      if (field == nullptr) continue;
      if (!quarry::ParseJsonPath(field->key).ok()) __builtin_trap();
      if (field->op == quarry::FieldCondition::Op::kMatch && field->values.size() != 1) __builtin_trap();
      for (const auto& bound : {field->range.gt, field->range.gte, field->range.lt, field->range.lte}) {
        if (bound && !std::isfinite(*bound)) __builtin_trap();
      }
    }
  }
}

void DecodeBody(std::string_view body) {
  quarry::server::DecodeLimits limits;
  limits.max_inputs = 16;
  limits.max_rerank_documents = 16;
  limits.max_documents = 16;
  limits.max_json_depth = 32;
  auto json = quarry::server::ParseJsonObject(body, limits.max_json_depth);
  if (!json.ok()) {
    if (json.status().message().empty()) __builtin_trap();
    return;
  }
  auto check = [](const auto& result) {
    if (!result.ok() && result.status().message().empty()) __builtin_trap();
  };
  auto embeddings = quarry::server::DecodeEmbeddingsRequest(*json, limits);
  check(embeddings);
  if (embeddings.ok() && (embeddings->texts.size() > limits.max_inputs ||
                          embeddings->token_inputs.size() > limits.max_inputs ||
                          (embeddings->texts.empty() && embeddings->token_inputs.empty()))) {
    __builtin_trap();
  }
  auto rerank = quarry::server::DecodeRerankRequest(*json, limits);
  check(rerank);
  if (rerank.ok() && (rerank->documents.empty() || rerank->documents.size() > limits.max_rerank_documents)) {
    __builtin_trap();
  }
  auto tei_embed = quarry::server::DecodeTeiEmbedRequest(*json, limits);
  check(tei_embed);
  auto tei_rerank = quarry::server::DecodeTeiRerankRequest(*json, limits);
  check(tei_rerank);
  auto documents = quarry::server::DecodeDocumentsRequest(*json, limits);
  check(documents);
  if (documents.ok()) {
    if (documents->documents.empty() || documents->documents.size() > limits.max_documents) __builtin_trap();
    for (const auto& doc : documents->documents) {
      if (doc.id.empty()) __builtin_trap();
    }
  }
  auto search = quarry::server::DecodeSearchBody(*json);
  check(search);
  if (search.ok() && (search->limit == 0 || search->limit > 10000)) __builtin_trap();
  // The filter decoder on its own, on the body and on its "filter" (the
  // search decoder stops at the first bad field before it).
  auto filter = quarry::server::DecodeFilter(*json, "filter");
  check(filter);
  if (auto it = json->find("filter"); it != json->end()) {
    auto inner = quarry::server::DecodeFilter(*it, "filter");
    check(inner);
    if (inner.ok()) CheckFilter(*inner);
  }
  if (filter.ok()) CheckFilter(*filter);
  auto index = quarry::server::DecodeCreateIndex(*json);
  check(index);
  if (index.ok() && index->field_name.empty()) __builtin_trap();
  // Points routes, against a collection with one dense and one sparse vector.
  quarry::CollectionOptions options;
  options.dense_vectors.push_back({"default", 4});
  options.sparse_vectors.push_back({"s", true});
  auto upsert = quarry::server::DecodeUpsertPoints(*json, options);
  check(upsert);
  if (upsert.ok()) {
    if (upsert->size() > quarry::server::kMaxPointsPerCall) __builtin_trap();
    for (const auto& point : *upsert) {
      for (const auto& [name, vector] : point.sparse_vectors) {
        if (vector.indices.size() != vector.values.size()) __builtin_trap();
      }
      for (const auto& [name, values] : point.vectors) {
        for (float v : values) {
          if (!std::isfinite(v)) __builtin_trap();
        }
      }
    }
  }
  check(quarry::server::DecodeRetrieve(*json));
  check(quarry::server::DecodePointSelector(*json));
  for (auto op : {quarry::PayloadOp::kSet, quarry::PayloadOp::kOverwrite,
                  quarry::PayloadOp::kDeleteKeys, quarry::PayloadOp::kClear}) {
    check(quarry::server::DecodePayloadUpdate(*json, op));
  }
  auto scroll = quarry::server::DecodeScroll(*json);
  check(scroll);
  if (scroll.ok() && (scroll->request.limit == 0 || scroll->request.limit > 10000)) __builtin_trap();
  check(quarry::server::DecodeCount(*json));
  auto query = quarry::server::DecodeQuery(*json);
  check(query);
  if (query.ok() && (query->query.limit == 0 || query->query.limit > 10000)) __builtin_trap();
  check(quarry::server::DecodeSearchPoints(*json));
  for (bool legacy : {false, true}) {
    auto batch = quarry::server::DecodeBatch(*json, legacy);
    check(batch);
    if (batch.ok() && batch->size() > quarry::server::kMaxBatchQueries) __builtin_trap();
  }
  auto create = quarry::server::DecodeCreateCollection(*json);
  check(create);
  if (create.ok()) {
    for (const auto& vector : create->dense_vectors) {
      if (vector.dim == 0 || vector.name.empty()) __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  Outcome whole = ParseStream(input, 0);
  size_t step = size > 0 ? 1 + data[0] % 64 : 1;
  Outcome pieces = ParseStream(input, step);
  // Framing must not depend on how the bytes arrive.
  if (whole.bodies != pieces.bodies || whole.paths != pieces.paths || whole.error != pieces.error) {
    __builtin_trap();
  }
  for (const std::string& path : whole.paths) {
    std::string decoded;
    if (quarry::server::PercentDecode(path, &decoded) && decoded.size() > path.size()) __builtin_trap();
    (void)quarry::server::ValidUtf8(decoded);
  }
  for (const std::string& body : whole.bodies) DecodeBody(body);
  if (size <= 65536) DecodeBody(input);
  return 0;
}
