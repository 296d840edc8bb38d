#include "eval/beir.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unordered_map>

#include "common/file_util.h"

namespace quarry::eval {
namespace {

double Percentile(std::vector<double> values, double pct) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t idx = static_cast<size_t>(std::ceil(pct / 100.0 * values.size()));
  return values[std::min(values.size() - 1, idx == 0 ? 0 : idx - 1)];
}

}  // namespace

Result<Qrels> ParseQrels(std::string_view tsv) {
  Qrels qrels;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < tsv.size()) {
    size_t end = tsv.find('\n', pos);
    if (end == std::string_view::npos) end = tsv.size();
    std::string line(tsv.substr(pos, end - pos));
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string query_id, doc_id, score_text;
    if (!std::getline(fields, query_id, '\t') || !std::getline(fields, doc_id, '\t') ||
        !std::getline(fields, score_text, '\t')) {
      return Status::InvalidArgument("qrels line " + std::to_string(line_no) +
                                     ": expected query-id<TAB>corpus-id<TAB>score");
    }
    char* parse_end = nullptr;
    long score = std::strtol(score_text.c_str(), &parse_end, 10);
    if (parse_end == score_text.c_str() || *parse_end != '\0') {
      if (line_no == 1) continue;  // header
      return Status::InvalidArgument("qrels line " + std::to_string(line_no) + ": bad score '" +
                                     score_text + "'");
    }
    qrels[query_id][doc_id] = static_cast<int>(score);
  }
  return qrels;
}

Result<BeirSet> LoadBeir(const std::filesystem::path& dir, const std::string& split) {
  BeirSet set;
  set.corpus = dir / "corpus.jsonl";
  auto queries_path = dir / "queries.jsonl";
  auto qrels_path = dir / "qrels" / (split + ".tsv");
  for (const auto& needed : {set.corpus, queries_path, qrels_path}) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(needed, ec)) {
      return Status::InvalidArgument(dir.string() + " is not a BEIR folder: missing " +
                                     needed.lexically_relative(dir).string());
    }
  }
  QUARRY_ASSIGN_OR_RETURN(std::string qrels_text, ReadFileToString(qrels_path));
  QUARRY_ASSIGN_OR_RETURN(set.qrels, ParseQrels(qrels_text));
  QUARRY_ASSIGN_OR_RETURN(std::string queries_text, ReadFileToString(queries_path));
  std::set<std::string> wanted;
  for (const auto& [query_id, docs] : set.qrels) {
    for (const auto& [doc_id, grade] : docs) {
      if (grade > 0) wanted.insert(query_id);
    }
  }
  std::istringstream lines(queries_text);
  std::string line;
  size_t line_no = 0;
  while (std::getline(lines, line)) {
    ++line_no;
    if (line.empty()) continue;
    auto json = nlohmann::json::parse(line, nullptr, false);
    if (json.is_discarded() || !json.is_object() || !json.contains("_id") ||
        !json.contains("text") || !json["text"].is_string()) {
      return Status::InvalidArgument(queries_path.string() + ":" + std::to_string(line_no) +
                                     ": not a BEIR query ({\"_id\", \"text\"})");
    }
    std::string id = json["_id"].is_string() ? json["_id"].get<std::string>() : json["_id"].dump();
    if (wanted.count(id)) set.queries.push_back({id, json["text"].get<std::string>()});
  }
  if (set.queries.empty()) {
    return Status::InvalidArgument(dir.string() + ": no query of queries.jsonl has relevance judgements in " +
                                   qrels_path.lexically_relative(dir).string());
  }
  return set;
}

double NdcgAt(const std::vector<std::string>& ranked, const std::map<std::string, int>& relevant,
              size_t k) {
  double dcg = 0;
  for (size_t rank = 0; rank < std::min(k, ranked.size()); ++rank) {
    auto it = relevant.find(ranked[rank]);
    if (it != relevant.end() && it->second > 0) dcg += it->second / std::log2(rank + 2.0);
  }
  std::vector<int> grades;
  for (const auto& [doc, grade] : relevant) {
    if (grade > 0) grades.push_back(grade);
  }
  std::sort(grades.rbegin(), grades.rend());
  double ideal = 0;
  for (size_t rank = 0; rank < std::min(k, grades.size()); ++rank) {
    ideal += grades[rank] / std::log2(rank + 2.0);
  }
  return ideal > 0 ? dcg / ideal : 0;
}

double RecallAt(const std::vector<std::string>& ranked, const std::map<std::string, int>& relevant,
                size_t k) {
  size_t total = 0;
  for (const auto& [doc, grade] : relevant) total += grade > 0;
  if (total == 0) return 0;
  size_t found = 0;
  for (size_t rank = 0; rank < std::min(k, ranked.size()); ++rank) {
    auto it = relevant.find(ranked[rank]);
    found += it != relevant.end() && it->second > 0;
  }
  return static_cast<double>(found) / total;
}

double MrrAt(const std::vector<std::string>& ranked, const std::map<std::string, int>& relevant,
             size_t k) {
  for (size_t rank = 0; rank < std::min(k, ranked.size()); ++rank) {
    auto it = relevant.find(ranked[rank]);
    if (it != relevant.end() && it->second > 0) return 1.0 / (rank + 1);
  }
  return 0;
}

Result<Metrics> Evaluate(const Collection& collection, const BeirSet& set) {
  return Evaluate(set, [&collection](const std::string& text) {
    SearchRequest request;
    request.text = text;
    request.limit = 300;  // chunks; enough to fill 100 distinct documents
    return collection.Search(request);
  });
}

Result<Metrics> Evaluate(const BeirSet& set, const SearchFn& search) {
  Metrics metrics;
  std::vector<double> latencies;
  for (const auto& query : set.queries) {
    auto start = std::chrono::steady_clock::now();
    QUARRY_ASSIGN_OR_RETURN(SearchResponse response, search(query.text));
    std::vector<std::string> ranked;
    std::unordered_map<std::string, bool> seen;
    for (const auto& hit : response.hits) {  // best chunk per document
      if (seen.emplace(hit.chunk.doc_id, true).second) ranked.push_back(hit.chunk.doc_id);
      if (ranked.size() == 100) break;
    }
    latencies.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    const auto& relevant = set.qrels.at(query.id);
    metrics.ndcg_at_10 += NdcgAt(ranked, relevant, 10);
    metrics.recall_at_100 += RecallAt(ranked, relevant, 100);
    metrics.mrr_at_10 += MrrAt(ranked, relevant, 10);
  }
  metrics.queries = set.queries.size();
  metrics.ndcg_at_10 /= metrics.queries;
  metrics.recall_at_100 /= metrics.queries;
  metrics.mrr_at_10 /= metrics.queries;
  metrics.p50_ms = Percentile(latencies, 50);
  metrics.p99_ms = Percentile(latencies, 99);
  for (double ms : latencies) metrics.mean_ms += ms;
  metrics.mean_ms /= latencies.size();
  return metrics;
}

}  // namespace quarry::eval
