#include "search/points_query.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <unordered_set>

namespace quarry::search {
namespace {

constexpr size_t kMaxDepth = 8;
constexpr size_t kMaxLimit = 10000;

bool IsBm25Model(std::string_view model) {
  std::string lower(model);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower == "bm25" || lower == "qdrant/bm25";
}

// `outer` AND `inner`.
std::optional<Filter> Both(const std::optional<Filter>& outer, const std::optional<Filter>& inner) {
  bool has_outer = outer.has_value() && !outer->empty();
  bool has_inner = inner.has_value() && !inner->empty();
  if (!has_outer) return has_inner ? inner : std::nullopt;
  if (!has_inner) return outer;
  Filter both;
  both.must.push_back(Condition::Nested(*outer));
  both.must.push_back(Condition::Nested(*inner));
  return both;
}

class Runner {
 public:
  Runner(const Collection& collection, const EmbedderLookup& embedders,
         const RerankerLookup& rerankers)
      : collection_(collection), embedders_(embedders), rerankers_(rerankers) {}

  Result<PointQueryResult> Run(const PointQuery& node, const std::optional<Filter>& parent_filter,
                               size_t depth, bool root) {
    if (depth > kMaxDepth) {
      return Status::InvalidArgument("prefetches nest deeper than " + std::to_string(kMaxDepth));
    }
    if (node.limit == 0 || node.limit > kMaxLimit) {
      return Status::InvalidArgument("limit must be in [1, " + std::to_string(kMaxLimit) + "]");
    }
    const size_t want = node.limit + (root ? node.offset : 0);
    std::optional<Filter> filter = Both(parent_filter, node.filter);
    PointQueryResult result;
    if (node.prefetch.empty()) {
      if (node.kind == PointQuery::Kind::kRerank) {
        return Status::InvalidArgument("rerank needs prefetches: the candidates it reorders");
      }
      if (node.kind == PointQuery::Kind::kNone) {  // Qdrant: the points in id order, score 0
        ScrollRequest scroll;
        scroll.filter = filter;
        scroll.limit = want;
        QUARRY_ASSIGN_OR_RETURN(ScrollPage page, collection_.Scroll(scroll));
        for (const PointRecord& record : page.points) result.points.push_back({record.point_id, 0.0f});
      } else if (node.kind == PointQuery::Kind::kFusionRrf ||
                 node.kind == PointQuery::Kind::kFusionDbsf) {
        return Status::InvalidArgument("fusion needs prefetches to fuse");
      } else {
        QUARRY_ASSIGN_OR_RETURN(result, Search(node, filter, want, std::nullopt));
      }
    } else {
      std::vector<std::vector<Scored>> lists;
      for (const PointQuery& child : node.prefetch) {
        QUARRY_ASSIGN_OR_RETURN(PointQueryResult sub, Run(child, filter, depth + 1, false));
        lists.push_back(std::move(sub.points));
      }
      switch (node.kind) {
        case PointQuery::Kind::kFusionRrf: {
          QUARRY_ASSIGN_OR_RETURN(result.points, FuseRrf(lists, node.rrf_k, node.weights));
          break;
        }
        case PointQuery::Kind::kFusionDbsf: {
          QUARRY_ASSIGN_OR_RETURN(result.points, FuseDbsf(lists, node.weights));
          break;
        }
        case PointQuery::Kind::kRerank: {
          QUARRY_ASSIGN_OR_RETURN(result.points, Rerank(node, lists));
          break;
        }
        case PointQuery::Kind::kNone: {
          if (lists.size() != 1) {
            return Status::InvalidArgument(
                "several prefetches need a \"query\" to combine them (e.g. {\"fusion\": \"rrf\"})");
          }
          result.points = std::move(lists[0]);
          break;
        }
        default: {
          std::unordered_set<uint64_t> seen;
          std::vector<uint64_t> among;
          for (const auto& list : lists) {
            for (const Scored& s : list) {
              if (seen.insert(s.id).second) among.push_back(s.id);
            }
          }
          QUARRY_ASSIGN_OR_RETURN(result, Search(node, filter, want, std::move(among)));
          break;
        }
      }
    }
    if (node.score_threshold.has_value()) {
      float threshold = *node.score_threshold;
      std::erase_if(result.points, [&](const Scored& s) {
        return result.euclid ? std::sqrt(std::max(0.0f, -s.score)) > threshold : s.score < threshold;
      });
    }
    if (result.points.size() > want) result.points.resize(want);
    if (root) {
      size_t skip = std::min(node.offset, result.points.size());
      result.points.erase(result.points.begin(), result.points.begin() + static_cast<long>(skip));
    }
    return result;
  }

 private:
  // The union of the prefetched candidates, scored by the cross-encoder.
  Result<std::vector<Scored>> Rerank(const PointQuery& node,
                                     const std::vector<std::vector<Scored>>& lists) {
    if (!rerankers_) return Status::InvalidArgument("no cross-encoder is available for rerank");
    QUARRY_ASSIGN_OR_RETURN(embed::Reranker * reranker, rerankers_(node.model));
    std::unordered_set<uint64_t> seen;
    std::vector<uint64_t> ids;
    for (const auto& list : lists) {
      for (const Scored& s : list) {
        if (seen.insert(s.id).second) ids.push_back(s.id);
      }
    }
    QUARRY_ASSIGN_OR_RETURN(auto records, collection_.RetrieveByPointIds(ids, false));
    std::vector<uint64_t> kept;
    std::vector<std::string_view> passages;
    for (size_t idx = 0; idx < records.size(); ++idx) {
      if (!records[idx].has_value() || records[idx]->chunk.text.empty()) continue;
      kept.push_back(ids[idx]);
      passages.push_back(records[idx]->chunk.text);
    }
    std::vector<Scored> out;
    if (kept.empty()) return out;
    std::vector<float> scores;
    QUARRY_RETURN_IF_ERROR(reranker->Score(node.text, passages, &scores));
    if (scores.size() != kept.size()) return Status::Internal("the reranker returned the wrong number of scores");
    for (size_t idx = 0; idx < kept.size(); ++idx) out.push_back({kept[idx], scores[idx]});
    std::sort(out.begin(), out.end(), [](const Scored& a, const Scored& b) {
      return a.score != b.score ? a.score > b.score : a.id < b.id;
    });
    return out;
  }

  const DenseVectorConfig* FindDense(const std::string& name) const {
    const auto& fields = collection_.options().dense_vectors;
    if (name.empty()) return fields.size() == 1 ? &fields[0] : nullptr;
    for (const auto& field : fields) {
      if (field.name == name) return &field;
    }
    return nullptr;
  }

  Status NoDense(const std::string& name) const {
    if (name.empty()) {
      return Status::InvalidArgument("collection '" + collection_.name() +
                                     "' has no single dense vector: name one in \"using\"");
    }
    return Status::InvalidArgument("collection '" + collection_.name() + "' has no vector '" +
                                   name + "'");
  }

  // One search of the collection (over `among` only, when given).
  Result<PointQueryResult> Search(const PointQuery& node, const std::optional<Filter>& filter,
                                  size_t want, std::optional<std::vector<uint64_t>> among) {
    PointQueryResult result;
    if (among.has_value() && among->empty()) return result;
    SearchRequest request;
    request.limit = want;
    request.with_text = false;
    request.hnsw_ef = node.hnsw_ef;
    request.exact = node.exact;
    request.rescore = node.rescore;
    request.oversampling = node.oversampling;
    request.filter = filter;
    request.among = std::move(among);
    switch (node.kind) {
      case PointQuery::Kind::kSparse: {
        if (node.using_name.empty()) {
          return Status::InvalidArgument("a sparse vector query needs \"using\": the sparse vector's name");
        }
        request.sparse = SparseQuery{node.using_name, node.sparse};
        break;
      }
      case PointQuery::Kind::kText: {
        if (IsBm25Model(node.model)) {
          request.text = node.text;
          break;
        }
        const DenseVectorConfig* config = FindDense(node.using_name);
        if (config == nullptr) return NoDense(node.using_name);
        QUARRY_ASSIGN_OR_RETURN(embed::Embedder * embedder, embedders_(config->name, node.model));
        std::vector<std::vector<float>> vectors;
        std::string_view text = node.text;
        QUARRY_RETURN_IF_ERROR(embedder->Embed({&text, 1}, embed::TextKind::kQuery, &vectors));
        if (vectors.size() != 1) return Status::Internal("the model returned no vector");
        request.vector = VectorQuery{config->name, std::move(vectors[0])};
        result.euclid = config->metric == VectorMetric::kL2;
        break;
      }
      case PointQuery::Kind::kDense:
      case PointQuery::Kind::kPointId: {
        const DenseVectorConfig* config = FindDense(node.using_name);
        if (config == nullptr) return NoDense(node.using_name);
        std::vector<float> values = node.dense;
        if (node.kind == PointQuery::Kind::kPointId) {
          PointId id = node.point;
          QUARRY_ASSIGN_OR_RETURN(auto records, collection_.RetrievePoints({&id, 1}, true));
          if (!records[0].has_value()) {
            return Status::InvalidArgument("query: no point " + node.point.ToString());
          }
          bool found = false;
          for (auto& [name, stored] : records[0]->vectors) {
            if (name == config->name) {
              values = std::move(stored);
              found = true;
            }
          }
          if (!found) {
            return Status::InvalidArgument("query: point " + node.point.ToString() +
                                           " has no vector '" + config->name + "'");
          }
          // Qdrant leaves the query point out of its own neighbours.
          Filter not_itself;
          not_itself.must_not.push_back(Condition::HasId({records[0]->point_id}));
          request.filter = Both(request.filter, not_itself);
        }
        request.vector = VectorQuery{config->name, std::move(values)};
        result.euclid = config->metric == VectorMetric::kL2;
        break;
      }
      default:
        return Status::InvalidArgument("unsupported query");
    }
    QUARRY_ASSIGN_OR_RETURN(SearchResponse response, collection_.Search(request));
    result.points.reserve(response.hits.size());
    for (const SearchHit& hit : response.hits) result.points.push_back({hit.point_id, hit.score});
    return result;
  }

  const Collection& collection_;
  const EmbedderLookup& embedders_;
  const RerankerLookup& rerankers_;
};

}  // namespace

Result<PointQueryResult> RunPointQuery(const Collection& collection, const PointQuery& query,
                                       const EmbedderLookup& embedders,
                                       const RerankerLookup& rerankers) {
  Runner runner(collection, embedders, rerankers);
  return runner.Run(query, std::nullopt, 0, true);
}

}  // namespace quarry::search
