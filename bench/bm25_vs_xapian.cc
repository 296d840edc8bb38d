// quarry_bm25_vs_xapian: BM25 top-k latency and quality of Quarry's Bm25Index,
// with Xapian measured in the same run as the anchor.
//
// For each BEIR directory (corpus.jsonl, queries.jsonl, qrels/test.tsv):
//   1. every document is analyzed ONCE with quarry::text::Analyzer over
//      title + " " + text (flat BM25, as Pyserini's BEIR "flat" runs);
//   2. the SAME term lists feed both engines: Bm25Index::AddTerms, and a Xapian
//      glass database (doc.add_term per occurrence, so wdf = tf and the Xapian
//      document length = number of terms = Quarry's length), committed and then
//      compacted (what Xapian recommends for a static database);
//   3. only queries that have judgments in qrels/test.tsv are used; each is
//      analyzed once, outside the timed region, and both engines get the same
//      term list (repeated terms stay repeated in both);
//   4. a warm-up pass, then `repeat` timed passes, engines alternating pass by
//      pass; every (query, pass) is one latency sample (steady_clock);
//   5. nDCG@10 for both (gain = qrel score, 1/log2(rank+1) discount, ideal from
//      the qrels), and Quarry's MaxScore Search is checked against
//      SearchExhaustive on every query.
//
// Usage: quarry_bm25_vs_xapian --beir DIR [--beir DIR2 ...] [--out FILE]
//                              [--k 10] [--repeat 5]
// One --beir writes one result object; several write {"runs": [...]}.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>
#include <xapian.h>

#include "machine_info.h"
#include "index/sparse/bm25_index.h"
#include "quarry/status.h"
#include "quarry/types.h"
#include "text/analyzer.h"
#include "text/loader.h"

namespace {

namespace fs = std::filesystem;
using quarry::bench::CpuModel;
using quarry::bench::LoadAverage1m;
using quarry::bench::UtcDate;
using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;

constexpr double kK1 = 0.9;
constexpr double kB = 0.4;
// Xapian BM25Weight(k1, k2, k3, b, min_normlen). k2 = 0: no extra document
// length correction (Lucene has none); k3 = 0: query term frequency factor is
// (k3+1)*wqf/(k3+wqf) = 1 for each OR leaf, and repeated query terms are
// separate leaves, so each occurrence adds its full score as in Lucene and
// Quarry. min_normlen stays at Xapian's default.
constexpr double kXapianK2 = 0.0;
constexpr double kXapianK3 = 0.0;
constexpr double kXapianMinNormlen = 0.5;
constexpr size_t kNdcgDepth = 10;

struct Options {
  std::vector<fs::path> beir_dirs;
  fs::path out = "bench/results/bm25.json";
  size_t k = 10;
  int repeat = 5;
};

struct Query {
  std::string id;
  std::vector<std::string> terms;
};

struct Dataset {
  std::string name;
  std::vector<std::string> doc_ids;                // index = point id = Xapian docid - 1
  std::vector<std::vector<std::string>> doc_terms;  // analyzed, empty docs dropped
  uint64_t corpus_documents = 0;                    // as loaded
  uint64_t empty_documents = 0;                     // no terms after analysis: not indexed
  uint64_t bad_lines = 0;
  double analyze_s = 0.0;
  std::vector<Query> queries;  // only those judged in qrels/test.tsv
  // query id -> (doc id -> graded relevance)
  std::unordered_map<std::string, std::unordered_map<std::string, int>> qrels;
};

// Latency samples and the quality of one engine.
struct EngineResult {
  std::vector<double> latencies_ms;
  double ndcg10 = 0.0;
  double build_s = 0.0;
};

[[noreturn]] void Die(const std::string& message) {
  std::cerr << "quarry_bm25_vs_xapian: " << message << "\n";
  std::exit(1);
}

void Usage() {
  std::cerr << "usage: quarry_bm25_vs_xapian --beir DIR [--beir DIR ...] [--out FILE] "
               "[--k 10] [--repeat 5]\n";
  std::exit(2);
}

Options ParseArgs(int argc, char** argv) {
  Options options;
  for (int arg_idx = 1; arg_idx < argc; ++arg_idx) {
    std::string arg = argv[arg_idx];
    auto value = [&]() -> std::string {
      if (arg_idx + 1 >= argc) Usage();
      return argv[++arg_idx];
    };
    if (arg == "--beir") {
      options.beir_dirs.emplace_back(value());
    } else if (arg == "--out") {
      options.out = value();
    } else if (arg == "--k") {
      options.k = std::stoul(value());
    } else if (arg == "--repeat") {
      options.repeat = std::stoi(value());
    } else {
      Usage();
    }
  }
  if (options.beir_dirs.empty() || options.k == 0 || options.repeat < 1) Usage();
  return options;
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// qrels/test.tsv: "query-id \t corpus-id \t score" with a header line.
void LoadQrels(const fs::path& path, Dataset* dataset) {
  std::ifstream in(path);
  if (!in) Die("cannot read " + path.string());
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string query_id, doc_id, score;
    if (!std::getline(fields, query_id, '\t') || !std::getline(fields, doc_id, '\t') ||
        !std::getline(fields, score, '\t')) {
      Die(path.string() + ": malformed line: " + line);
    }
    if (first) {
      first = false;
      if (query_id == "query-id") continue;  // header
    }
    dataset->qrels[query_id][doc_id] = std::stoi(score);
  }
}

Dataset LoadDataset(const fs::path& dir, const quarry::text::Analyzer& analyzer) {
  Dataset dataset;
  dataset.name = fs::absolute(dir).lexically_normal().filename().string();
  if (dataset.name.empty()) dataset.name = fs::absolute(dir).parent_path().filename().string();

  LoadQrels(dir / "qrels" / "test.tsv", &dataset);

  std::vector<quarry::Document> documents;
  quarry::text::LoadFileStats corpus_stats;
  quarry::Status status = quarry::text::LoadFile(
      dir / "corpus.jsonl",
      [&](quarry::Document&& document) {
        documents.push_back(std::move(document));
        return quarry::Status::OK();
      },
      &corpus_stats);
  if (!status.ok()) Die("corpus: " + status.ToString());
  dataset.corpus_documents = documents.size();
  dataset.bad_lines = corpus_stats.bad_lines;

  const Clock::time_point analyze_start = Clock::now();
  for (const quarry::Document& document : documents) {
    std::vector<std::string> terms = analyzer.Analyze(document.title + " " + document.text);
    if (terms.empty()) {
      ++dataset.empty_documents;
      continue;
    }
    dataset.doc_ids.push_back(document.doc_id);
    dataset.doc_terms.push_back(std::move(terms));
  }
  dataset.analyze_s = SecondsSince(analyze_start);

  std::vector<quarry::Document> queries;
  quarry::text::LoadFileStats query_stats;
  status = quarry::text::LoadFile(
      dir / "queries.jsonl",
      [&](quarry::Document&& document) {
        queries.push_back(std::move(document));
        return quarry::Status::OK();
      },
      &query_stats);
  if (!status.ok()) Die("queries: " + status.ToString());
  for (const quarry::Document& query : queries) {
    if (!dataset.qrels.contains(query.doc_id)) continue;
    std::string text = query.title.empty() ? query.text : query.title + " " + query.text;
    dataset.queries.push_back({query.doc_id, analyzer.Analyze(text)});
  }
  if (dataset.queries.empty()) Die(dir.string() + ": no query has test judgments");
  return dataset;
}

// nDCG@depth with linear gain = qrel score (what pytrec_eval / BEIR report).
double Ndcg(const std::vector<std::string>& ranked_doc_ids,
            const std::unordered_map<std::string, int>& judgments, size_t depth) {
  double dcg = 0.0;
  for (size_t rank = 0; rank < ranked_doc_ids.size() && rank < depth; ++rank) {
    auto it = judgments.find(ranked_doc_ids[rank]);
    if (it != judgments.end() && it->second > 0) {
      dcg += it->second / std::log2(static_cast<double>(rank) + 2.0);
    }
  }
  std::vector<int> gains;
  for (const auto& [doc_id, grade] : judgments) {
    if (grade > 0) gains.push_back(grade);
  }
  std::sort(gains.rbegin(), gains.rend());
  double ideal = 0.0;
  for (size_t rank = 0; rank < gains.size() && rank < depth; ++rank) {
    ideal += gains[rank] / std::log2(static_cast<double>(rank) + 2.0);
  }
  return ideal > 0.0 ? dcg / ideal : 0.0;
}

// Nearest-rank percentile.
double Percentile(std::vector<double> samples, double fraction) {
  std::sort(samples.begin(), samples.end());
  size_t rank = static_cast<size_t>(std::ceil(fraction * static_cast<double>(samples.size())));
  rank = std::clamp<size_t>(rank, 1, samples.size());
  return samples[rank - 1];
}

uint64_t DirectoryBytes(const fs::path& dir) {
  uint64_t bytes = 0;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) bytes += entry.file_size();
  }
  return bytes;
}

// A temporary directory removed on scope exit.
class TempDir {
 public:
  TempDir() {
    fs::path base = fs::temp_directory_path();
    std::string pattern = (base / "quarry-bench-xapian-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) Die("mkdtemp failed under " + base.string());
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code error;
    fs::remove_all(path_, error);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

json EngineJson(const EngineResult& result) {
  double total_ms = 0.0;
  for (double latency : result.latencies_ms) total_ms += latency;
  json out;
  out["p50_ms"] = Percentile(result.latencies_ms, 0.50);
  out["p99_ms"] = Percentile(result.latencies_ms, 0.99);
  out["mean_ms"] = total_ms / static_cast<double>(result.latencies_ms.size());
  out["qps"] = 1000.0 * static_cast<double>(result.latencies_ms.size()) / total_ms;
  out["ndcg@10"] = result.ndcg10;
  out["build_s"] = result.build_s;
  out["samples"] = result.latencies_ms.size();
  return out;
}

json RunDataset(const fs::path& dir, const Options& options,
                const quarry::text::Analyzer& analyzer) {
  const double load_before = LoadAverage1m();
  Dataset dataset = LoadDataset(dir, analyzer);
  const size_t num_queries = dataset.queries.size();
  const size_t num_docs = dataset.doc_terms.size();
  std::cerr << dataset.name << ": " << num_docs << " docs, " << num_queries
            << " judged queries\n";

  // ---- Build both indexes from the same term lists. ----
  EngineResult quarry_result;
  quarry::index::Bm25Index quarry_index(
      quarry::index::Bm25Params{static_cast<float>(kK1), static_cast<float>(kB)});
  {
    const Clock::time_point start = Clock::now();
    for (size_t doc_idx = 0; doc_idx < num_docs; ++doc_idx) {
      quarry_index.AddTerms(doc_idx, dataset.doc_terms[doc_idx]);
    }
    quarry_result.build_s = SecondsSince(start);
  }
  const quarry::index::Bm25Stats quarry_stats = quarry_index.Stats();

  EngineResult xapian_result;
  TempDir xapian_dir;
  const fs::path xapian_build_path = xapian_dir.path() / "build.glass";
  const fs::path xapian_search_path = xapian_dir.path() / "compact.glass";
  double xapian_compact_s = 0.0;
  {
    const Clock::time_point start = Clock::now();
    Xapian::WritableDatabase writable(xapian_build_path.string(),
                                      Xapian::DB_CREATE_OR_OVERWRITE | Xapian::DB_BACKEND_GLASS);
    for (size_t doc_idx = 0; doc_idx < num_docs; ++doc_idx) {
      Xapian::Document document;
      for (const std::string& term : dataset.doc_terms[doc_idx]) document.add_term(term);
      Xapian::docid docid = writable.add_document(document);
      if (docid != doc_idx + 1) Die("unexpected Xapian docid");
    }
    writable.commit();
    writable.close();
    xapian_result.build_s = SecondsSince(start);
    const Clock::time_point compact_start = Clock::now();
    Xapian::Database(xapian_build_path.string()).compact(xapian_search_path.string());
    xapian_compact_s = SecondsSince(compact_start);
  }
  Xapian::Database xapian_db(xapian_search_path.string());
  if (xapian_db.get_doccount() != num_docs) Die("Xapian doccount mismatch");
  Xapian::Enquire enquire(xapian_db);
  enquire.set_weighting_scheme(
      Xapian::BM25Weight(kK1, kXapianK2, kXapianK3, kB, kXapianMinNormlen));

  // One search per engine; both return 0-based document indexes. The term list
  // is already analyzed, so the timed region is retrieval only, for both.
  auto quarry_search = [&](const Query& query, size_t k, std::vector<uint64_t>* hits) {
    std::vector<quarry::index::ScoredPoint> points = quarry_index.Search(query.terms, k);
    hits->clear();
    for (const quarry::index::ScoredPoint& point : points) hits->push_back(point.point_id);
  };
  auto exhaustive_search = [&](const Query& query, size_t k, std::vector<uint64_t>* hits) {
    std::vector<quarry::index::ScoredPoint> points = quarry_index.SearchExhaustive(query.terms, k);
    hits->clear();
    for (const quarry::index::ScoredPoint& point : points) hits->push_back(point.point_id);
  };
  auto xapian_search = [&](const Query& query, size_t k, std::vector<uint64_t>* hits) {
    enquire.set_query(Xapian::Query(Xapian::Query::OP_OR, query.terms.begin(), query.terms.end()));
    Xapian::MSet mset = enquire.get_mset(0, static_cast<Xapian::doccount>(k));
    hits->clear();
    for (Xapian::MSetIterator it = mset.begin(); it != mset.end(); ++it) {
      hits->push_back(*it - 1);
    }
  };

  // ---- Quality (untimed): nDCG@10 for both; Search vs exhaustive for Quarry. ----
  auto to_doc_ids = [&](const std::vector<uint64_t>& hits) {
    std::vector<std::string> doc_ids;
    for (uint64_t hit : hits) doc_ids.push_back(dataset.doc_ids[hit]);
    return doc_ids;
  };
  std::vector<uint64_t> hits;
  double quarry_ndcg_sum = 0.0;
  double xapian_ndcg_sum = 0.0;
  size_t mismatches = 0;
  size_t top1_agreement_with_xapian = 0;
  for (const Query& query : dataset.queries) {
    const auto& judgments = dataset.qrels.at(query.id);
    quarry_search(query, kNdcgDepth, &hits);
    quarry_ndcg_sum += Ndcg(to_doc_ids(hits), judgments, kNdcgDepth);
    std::optional<uint64_t> quarry_top1;
    if (!hits.empty()) quarry_top1 = hits.front();
    xapian_search(query, kNdcgDepth, &hits);
    xapian_ndcg_sum += Ndcg(to_doc_ids(hits), judgments, kNdcgDepth);
    if (!hits.empty() && quarry_top1 == hits.front()) ++top1_agreement_with_xapian;

    std::vector<quarry::index::ScoredPoint> pruned = quarry_index.Search(query.terms, options.k);
    std::vector<quarry::index::ScoredPoint> exact =
        quarry_index.SearchExhaustive(query.terms, options.k);
    bool same = pruned.size() == exact.size();
    for (size_t rank = 0; same && rank < pruned.size(); ++rank) {
      same = pruned[rank].point_id == exact[rank].point_id &&
             pruned[rank].score == exact[rank].score;
    }
    if (!same) ++mismatches;
  }
  quarry_result.ndcg10 = quarry_ndcg_sum / static_cast<double>(num_queries);
  xapian_result.ndcg10 = xapian_ndcg_sum / static_cast<double>(num_queries);

  // ---- Latency: warm-up, then `repeat` passes, engines alternating. ----
  for (const Query& query : dataset.queries) {
    quarry_search(query, options.k, &hits);
    exhaustive_search(query, options.k, &hits);
    xapian_search(query, options.k, &hits);
  }
  EngineResult exhaustive_result;  // Quarry's exact scorer, timed the same way
  exhaustive_result.latencies_ms.reserve(num_queries * options.repeat);
  quarry_result.latencies_ms.reserve(num_queries * options.repeat);
  xapian_result.latencies_ms.reserve(num_queries * options.repeat);
  auto timed_pass = [&](const auto& search, EngineResult* result) {
    for (const Query& query : dataset.queries) {
      const Clock::time_point start = Clock::now();
      search(query, options.k, &hits);
      result->latencies_ms.push_back(1e3 * SecondsSince(start));
    }
  };
  for (int pass = 0; pass < options.repeat; ++pass) {
    timed_pass(quarry_search, &quarry_result);
    timed_pass(exhaustive_search, &exhaustive_result);
    timed_pass(xapian_search, &xapian_result);
  }

  // ---- Report. ----
  json run;
  run["benchmark"] = "bm25_latency";
  run["dataset"] = dataset.name;
  run["machine"] = {{"cpu", CpuModel()},
                    {"cores", std::thread::hardware_concurrency()},
                    {"date", UtcDate()},
                    {"loadavg_1m_before", load_before},
                    {"loadavg_1m_after", LoadAverage1m()},
                    {"compiler", std::string("gcc ") + __VERSION__}};
  run["params"] = {{"k1", kK1},
                   {"b", kB},
                   {"k", options.k},
                   {"repeat", options.repeat},
                   {"threads", 1},
                   {"document_text", "title + \" \" + text, one field"},
                   {"analyzer", "quarry::text::Analyzer defaults (stop words, english snowball)"},
                   {"timed_region", "retrieval of pre-analyzed query terms, top k ids"}};
  run["corpus"] = {{"documents", dataset.corpus_documents},
                   {"indexed_documents", num_docs},
                   {"empty_documents_skipped", dataset.empty_documents},
                   {"bad_lines", dataset.bad_lines},
                   {"queries", num_queries},
                   {"terms", quarry_stats.terms},
                   {"postings", quarry_stats.postings},
                   {"average_length", quarry_stats.average_length},
                   {"analyze_s", dataset.analyze_s}};

  json quarry_json = EngineJson(quarry_result);
  quarry_json["memory_bytes"] = quarry_stats.memory_bytes;
  quarry_json["search"] = "Bm25Index::Search (windowed block-max MaxScore)";
  run["quarry"] = quarry_json;
  json exhaustive_json = EngineJson(exhaustive_result);
  exhaustive_json.erase("ndcg@10");  // same ranking as Search (see mismatches)
  exhaustive_json.erase("build_s");  // same index
  exhaustive_json["search"] = "Bm25Index::SearchExhaustive (every posting scored)";
  run["quarry_exhaustive"] = exhaustive_json;

  json anchor_json;
  anchor_json["engine"] = std::string("xapian ") + Xapian::version_string();
  const json xapian_metrics = EngineJson(xapian_result);
  for (const auto& [key, value] : xapian_metrics.items()) anchor_json[key] = value;
  anchor_json["memory_bytes"] = nullptr;  // not comparable: Xapian reads through the page cache
  anchor_json["db_disk_bytes"] = DirectoryBytes(xapian_search_path);
  anchor_json["compact_s"] = xapian_compact_s;
  anchor_json["backend"] =
      "glass, on disk in a temp dir, committed then compacted (page cache warm)";
  anchor_json["weighting"] = {{"scheme", "BM25Weight"},
                              {"k1", kK1},
                              {"k2", kXapianK2},
                              {"k3", kXapianK3},
                              {"b", kB},
                              {"min_normlen", kXapianMinNormlen}};
  anchor_json["query"] = "OP_OR of the analyzed terms, Enquire reused, get_mset(0, k)";
  run["anchor"] = anchor_json;

  run["ratio"] = {
      {"p50_speedup", xapian_metrics["p50_ms"].get<double>() / quarry_json["p50_ms"].get<double>()},
      {"qps_ratio", quarry_json["qps"].get<double>() / xapian_metrics["qps"].get<double>()},
      {"exhaustive_p50_over_search_p50",
       exhaustive_json["p50_ms"].get<double>() / quarry_json["p50_ms"].get<double>()}};
  run["search_vs_exhaustive_mismatches"] = mismatches;
  run["top1_agreement_with_anchor"] =
      static_cast<double>(top1_agreement_with_xapian) / static_cast<double>(num_queries);

  std::cerr << dataset.name << ": quarry p50 " << quarry_json["p50_ms"] << " ms, nDCG@10 "
            << quarry_result.ndcg10 << " | xapian p50 " << xapian_metrics["p50_ms"]
            << " ms, nDCG@10 " << xapian_result.ndcg10 << " | search vs exhaustive mismatches "
            << mismatches << "\n";
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = ParseArgs(argc, argv);
  const quarry::text::Analyzer analyzer;
  json runs = json::array();
  for (const fs::path& dir : options.beir_dirs) {
    try {
      runs.push_back(RunDataset(dir, options, analyzer));
    } catch (const Xapian::Error& error) {
      Die(dir.string() + ": Xapian: " + error.get_description());
    } catch (const std::exception& error) {
      Die(dir.string() + ": " + error.what());
    }
  }
  json out = runs.size() == 1 ? runs[0] : json{{"runs", runs}};
  if (options.out.has_parent_path()) fs::create_directories(options.out.parent_path());
  std::ofstream file(options.out);
  file << out.dump(2) << "\n";
  if (!file) Die("cannot write " + options.out.string());
  std::cerr << "wrote " << options.out.string() << "\n";
  return 0;
}
