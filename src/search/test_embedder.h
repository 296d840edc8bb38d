// Test stand-ins for a model: a hashed bag-of-words embedder, shared by the
// search tests (results are reproducible and depend on the words only).
#ifndef QUARRY_SEARCH_TEST_EMBEDDER_H_
#define QUARRY_SEARCH_TEST_EMBEDDER_H_

#include <cctype>
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

}  // namespace quarry::search::testing

#endif  // QUARRY_SEARCH_TEST_EMBEDDER_H_
