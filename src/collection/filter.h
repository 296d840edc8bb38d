// Payload filters (quarry::Filter, include/quarry/query.h): validation, the
// canonical text form used in cache keys, and evaluation against a point's
// chunk. Internal to the engine; the semantics are documented with Filter.
//
// Thread-safety: a CompiledFilter is immutable after Compile and may be used
// from many threads; PayloadView is single-threaded.
#ifndef QUARRY_COLLECTION_FILTER_H_
#define QUARRY_COLLECTION_FILTER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_path.h"
#include "quarry/query.h"
#include "quarry/status.h"
#include "quarry/types.h"

namespace quarry {

// A deterministic serialisation of `filter`: equal filters give equal keys,
// and so do filters that differ only in the order of the conditions inside
// must / should / must_not or of the ids and values inside has_id, any and
// except. Different filters give different keys. For cache keys.
std::string CanonicalFilterKey(const Filter& filter);

// True for the chunk fields a key's first name refers to (doc_id, source,
// title, section, text, chunk_index, begin, end).
bool IsFixedPayloadField(std::string_view name);

// The payload of one point as filters and payload indexes see it: the
// chunk's fixed fields over its metadata object (parsed on first use; bad or
// absent metadata reads as {}).
class PayloadView {
 public:
  explicit PayloadView(const Chunk& chunk) : chunk_(chunk) {}
  PayloadView(const PayloadView&) = delete;
  PayloadView& operator=(const PayloadView&) = delete;

  // Calls `fn` with each value found at `path` (see quarry/query.h).
  void ForEachValue(const std::vector<JsonPathStep>& path,
                    const std::function<void(const nlohmann::json&)>& fn);

 private:
  const nlohmann::json* Top(const std::string& name);

  const Chunk& chunk_;
  std::optional<nlohmann::json> metadata_;
  std::vector<std::pair<std::string, nlohmann::json>> fixed_;  // materialised fixed fields
};

// A filter with its key paths parsed, ready to evaluate.
class CompiledFilter {
 public:
  // InvalidArgument naming the condition ("filter.must[1]: ...") for a bad
  // key path, a match without a value, or a range bound that is not finite.
  static Result<CompiledFilter> Compile(const Filter& filter);

  CompiledFilter(CompiledFilter&&) noexcept;
  CompiledFilter& operator=(CompiledFilter&&) noexcept;
  ~CompiledFilter();

  bool Matches(uint64_t point_id, const Chunk& chunk) const;
  bool Matches(uint64_t point_id, PayloadView* payload) const;

  struct Node;

 private:
  explicit CompiledFilter(std::unique_ptr<Node> root);
  std::unique_ptr<Node> root_;
};

}  // namespace quarry

#endif  // QUARRY_COLLECTION_FILTER_H_
