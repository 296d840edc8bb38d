// Test stand-ins for models: a hashed bag-of-words embedder and a
// word-overlap cross-encoder, shared by the search tests (results are reproducible and depend on the words only).
#ifndef QUARRY_SEARCH_TEST_EMBEDDER_H_
#define QUARRY_SEARCH_TEST_EMBEDDER_H_

#include <cctype>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/hash.h"
#include "embed/embedder.h"

namespace quarry::search::testing {

inline std::vector<std::string> Words(std::string_view text) {
  std::vector<std::string> out;
  std::string w;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!w.empty()) {
      out.push_back(std::move(w));
      w.clear();
    }
  }
  if (!w.empty()) out.push_back(std::move(w));
  return out;
}

class HashEmbedder final : public embed::Embedder {
 public:
  explicit HashEmbedder(size_t dim) : dim_(dim) {}
  size_t dim() const override { return dim_; }
  const std::string& model_id() const override { return id_; }
  Status Embed(std::span<const std::string_view> texts, embed::TextKind,
               std::vector<std::vector<float>>* out) override {
    out->clear();
    for (std::string_view t : texts) {
      std::vector<float> v(dim_, 0.0f);
      for (const std::string& w : Words(t)) {
        const uint64_t h = Hash64(w);
        v[h % dim_] += (h >> 32) & 1 ? 1.0f : -1.0f;
      }
      v[0] += 0.01f;
      out->push_back(std::move(v));
    }
    return Status::OK();
  }

 private:
  size_t dim_;
  std::string id_ = "hash";
};

// Scores a passage by how many query words it contains (plus a tiny length
// tie-break), so its order differs from both retrievers'.
class OverlapReranker final : public embed::Reranker {
 public:
  const std::string& model_id() const override { return id_; }
  Status Score(std::string_view query, std::span<const std::string_view> passages,
               std::vector<float>* scores) override {
    ++calls;
    last_batch = passages.size();
    const auto q = Words(query);
    const std::set<std::string> qs(q.begin(), q.end());
    scores->clear();
    for (std::string_view p : passages) {
      float s = 0;
      for (const std::string& w : Words(p)) s += qs.count(w) ? 1.0f : 0.0f;
      scores->push_back(s - 0.001f * static_cast<float>(p.size()));
    }
    return Status::OK();
  }
  int calls = 0;
  size_t last_batch = 0;

 private:
  std::string id_ = "overlap";
};

}  // namespace quarry::search::testing

#endif  // QUARRY_SEARCH_TEST_EMBEDDER_H_
