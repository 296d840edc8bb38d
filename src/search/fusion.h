// Fusion of ranked candidate lists from several retrievers (dense and sparse
// prefetches) into one ranking, with the semantics of Qdrant's Query API so
// that results match it on its wire format.
//
//   RRF   score(p) = Σ_i  1 / ((pos_i(p) + 1) / w_i + k - 1)
//         pos_i is p's 0-based position in list i (lists where p is absent
//         contribute nothing); with w_i = 1 it is 1 / (k + pos), the paper's
//         1 / (k + rank) with a 0-based rank. Qdrant's default k is 2
//         (not the paper's 60). A weight w_i "stretches" list i: position n at
//         weight 3 counts like position n / 3 at weight 1. w_i <= 0 contributes
//         0. Input scores are ignored; only order matters.
//   DBSF  each list's scores are normalized with its mean μ and sample standard
//         deviation σ: (s - (μ - 3σ)) / 6σ (not clamped); a list of one point
//         gets 0.5, a list with σ = 0 gets 0.5 everywhere; then multiplied by
//         w_i and summed per point.
// Output: every point of any list, best first; ties broken by id (ascending)
// so results are deterministic.
//
// Thread-safety: pure functions.
#ifndef QUARRY_SEARCH_FUSION_H_
#define QUARRY_SEARCH_FUSION_H_

#include <cstdint>
#include <span>
#include <vector>

#include "quarry/status.h"

namespace quarry::search {

struct Scored {
  uint64_t id = 0;
  float score = 0.0f;
  bool operator==(const Scored&) const = default;
};

inline constexpr int kDefaultRrfK = 2;  // Qdrant's default

// `weights` empty: all 1. Otherwise one weight per list (InvalidArgument
// otherwise, as Qdrant answers). REQUIRES: k >= 1.
Result<std::vector<Scored>> FuseRrf(std::span<const std::vector<Scored>> lists, int k,
                                    std::span<const float> weights = {});

// `weights` empty: all 1; fewer weights than lists: the rest are 1.
Result<std::vector<Scored>> FuseDbsf(std::span<const std::vector<Scored>> lists,
                                     std::span<const float> weights = {});

}  // namespace quarry::search

#endif  // QUARRY_SEARCH_FUSION_H_
