// BEIR evaluation: load a BEIR-format folder (corpus.jsonl, queries.jsonl,
// qrels/test.tsv), run its test queries against a collection and compute
// nDCG@10, Recall@100 and MRR@10 the way pytrec_eval does (linear gains),
// plus query latency percentiles.
//
// Chunks are mapped back to documents: a document scores as its best chunk.
//
// Thread-safety: reentrant functions.
#ifndef QUARRY_EVAL_BEIR_H_
#define QUARRY_EVAL_BEIR_H_

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "quarry/collection.h"
#include "quarry/status.h"

namespace quarry::eval {

// query id -> (doc id -> graded relevance)
using Qrels = std::map<std::string, std::map<std::string, int>>;

struct BeirQuery {
  std::string id;
  std::string text;
};

struct BeirSet {
  std::filesystem::path corpus;  // corpus.jsonl
  std::vector<BeirQuery> queries;  // those with at least one relevant doc in qrels
  Qrels qrels;
};

// InvalidArgument naming what is missing when `dir` is not a BEIR folder.
Result<BeirSet> LoadBeir(const std::filesystem::path& dir, const std::string& split = "test");

// Parses qrels TSV text (query-id, corpus-id, score; an optional header line).
Result<Qrels> ParseQrels(std::string_view tsv);

struct Metrics {
  double ndcg_at_10 = 0;
  double recall_at_100 = 0;
  double mrr_at_10 = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double mean_ms = 0;
  size_t queries = 0;
};

// Per-query metrics on a ranked list of doc ids.
double NdcgAt(const std::vector<std::string>& ranked, const std::map<std::string, int>& relevant,
              size_t k);
double RecallAt(const std::vector<std::string>& ranked, const std::map<std::string, int>& relevant,
                size_t k);
double MrrAt(const std::vector<std::string>& ranked, const std::map<std::string, int>& relevant,
             size_t k);

Result<Metrics> Evaluate(const Collection& collection, const BeirSet& set);

// The same with any search: `search` answers a query with chunks (text
// included), best first; at least 300 of them give Recall@100 room to fill
// 100 distinct documents.
using SearchFn = std::function<Result<SearchResponse>(const std::string& query)>;
Result<Metrics> Evaluate(const BeirSet& set, const SearchFn& search);

}  // namespace quarry::eval

#endif  // QUARRY_EVAL_BEIR_H_
