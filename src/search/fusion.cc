#include "search/fusion.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>

namespace quarry::search {
namespace {

// Accumulates per-id scores in first-seen order, then sorts best first.
class Accumulator {
 public:
  void Add(uint64_t id, float score) {
    auto [it, inserted] = index_.try_emplace(id, out_.size());
    if (inserted) {
      out_.push_back({id, score});
    } else {
      out_[it->second].score += score;
    }
  }
  std::vector<Scored> Sorted() && {
    std::sort(out_.begin(), out_.end(), [](const Scored& a, const Scored& b) {
      return a.score != b.score ? a.score > b.score : a.id < b.id;
    });
    return std::move(out_);
  }

 private:
  std::unordered_map<uint64_t, size_t> index_;
  std::vector<Scored> out_;
};

}  // namespace

Result<std::vector<Scored>> FuseRrf(std::span<const std::vector<Scored>> lists, int k,
                                    std::span<const float> weights) {
  if (k < 1) return Status::InvalidArgument("rrf k must be at least 1");
  if (!weights.empty() && weights.size() != lists.size()) {
    return Status::InvalidArgument("rrf weights: got " + std::to_string(weights.size()) +
                                   ", expected one per prefetch (" +
                                   std::to_string(lists.size()) + ")");
  }
  for (float w : weights) {
    if (!std::isfinite(w)) return Status::InvalidArgument("rrf weights must be finite");
  }
  Accumulator acc;
  for (size_t i = 0; i < lists.size(); ++i) {
    const float w = weights.empty() ? 1.0f : weights[i];
    for (size_t pos = 0; pos < lists[i].size(); ++pos) {
      const float score =
          w <= 0.0f ? 0.0f
                    : 1.0f / (static_cast<float>(pos + 1) / w + static_cast<float>(k) - 1.0f);
      acc.Add(lists[i][pos].id, score);
    }
  }
  return std::move(acc).Sorted();
}

Result<std::vector<Scored>> FuseDbsf(std::span<const std::vector<Scored>> lists,
                                     std::span<const float> weights) {
  if (weights.size() > lists.size()) {
    return Status::InvalidArgument("dbsf weights: more weights than prefetches");
  }
  for (float w : weights) {
    if (!std::isfinite(w)) return Status::InvalidArgument("dbsf weights must be finite");
  }
  Accumulator acc;
  for (size_t i = 0; i < lists.size(); ++i) {
    const std::vector<Scored>& list = lists[i];
    const float w = i < weights.size() ? weights[i] : 1.0f;
    if (list.empty()) continue;
    if (list.size() == 1) {
      acc.Add(list[0].id, 0.5f * w);
      continue;
    }
    // Welford's one-pass mean and sample variance (in double: stable).
    double mean = 0.0, m2 = 0.0;
    size_t n = 0;
    for (const Scored& s : list) {
      ++n;
      const double delta = s.score - mean;
      mean += delta / static_cast<double>(n);
      m2 += delta * (s.score - mean);
    }
    const double sd = std::sqrt(m2 / static_cast<double>(n - 1));
    const double lo = mean - 3.0 * sd, hi = mean + 3.0 * sd;
    for (const Scored& s : list) {
      const float normalized =
          hi > lo ? static_cast<float>((s.score - lo) / (hi - lo)) : 0.5f;
      acc.Add(s.id, normalized * w);
    }
  }
  return std::move(acc).Sorted();
}

}  // namespace quarry::search
