// IngestPaths: walk -> load (loader threads) -> chunk and embed (prepare
// thread) -> store and index (caller), each stage working on its own batch.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "quarry/collection.h"
#include "text/loader.h"

namespace quarry {
namespace {

constexpr size_t kMaxErrors = 10;

struct Batch {
  std::vector<Document> docs;
  uint64_t files_done = 0;
  uint64_t bytes = 0;
  uint64_t skipped_files = 0;
  uint64_t bad_lines = 0;
  std::vector<std::string> errors;
};

// What the prepare thread hands to the committer: a batch's prepared upsert
// (or the error preparing it) and the batch's file statistics.
struct PreparedBatch {
  PreparedUpsertPtr prepared;  // null when the batch had no documents
  Status status;
  Batch batch;                 // docs moved out
};

// A bounded queue between pipeline stages.
template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity) {}
  // False when the consumer has stopped.
  bool Push(T batch) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return queue_.size() < capacity_ || stopped_; });
    if (stopped_) return false;
    queue_.push_back(std::move(batch));
    cv_.notify_all();
    return true;
  }
  bool Pop(T* batch) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !queue_.empty() || closed_; });
    if (queue_.empty()) return false;
    *batch = std::move(queue_.front());
    queue_.pop_front();
    cv_.notify_all();
    return true;
  }
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  void Stop() {
    std::lock_guard lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> queue_;
  size_t capacity_;
  bool closed_ = false;
  bool stopped_ = false;
};

bool IsHidden(const std::filesystem::path& path) {
  std::string name = path.filename().string();
  return name.size() > 1 && name[0] == '.';
}

std::string LowerExtension(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  if (!ext.empty()) ext.erase(0, 1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

// Expands folders into the files to load. Unreadable paths become errors.
void Walk(const std::vector<std::filesystem::path>& paths, const IngestOptions& options,
          std::vector<std::filesystem::path>* files, IngestProgress* progress) {
  auto note = [&](const std::string& error) {
    ++progress->skipped_files;
    if (progress->first_errors.size() < kMaxErrors) progress->first_errors.push_back(error);
  };
  for (const auto& input : paths) {
    std::error_code ec;
    auto absolute = std::filesystem::absolute(input, ec).lexically_normal();
    auto status = std::filesystem::status(absolute, ec);
    if (ec || !std::filesystem::exists(status)) {
      note(input.string() + ": no such file or directory");
      continue;
    }
    if (!std::filesystem::is_directory(status)) {
      files->push_back(absolute);
      continue;
    }
    std::vector<std::filesystem::path> found;
    auto it = std::filesystem::recursive_directory_iterator(
        absolute, std::filesystem::directory_options::skip_permission_denied, ec);
    if (ec) {
      note(input.string() + ": " + ec.message());
      continue;
    }
    for (; it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) {
        note(it->path().string() + ": " + ec.message());
        break;
      }
      if (IsHidden(it->path())) {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (!it->is_regular_file(ec)) continue;
      if (text::DetectFormat(it->path()) == text::Format::kUnknown) {
        ++progress->unsupported_files;
        continue;
      }
      if (!options.extensions.empty() &&
          std::find(options.extensions.begin(), options.extensions.end(),
                    LowerExtension(it->path())) == options.extensions.end()) {
        ++progress->unsupported_files;
        continue;
      }
      found.push_back(it->path());
    }
    std::sort(found.begin(), found.end());
    files->insert(files->end(), found.begin(), found.end());
  }
}

}  // namespace

Status IngestPaths(Collection* collection, const std::vector<std::filesystem::path>& paths,
                   const IngestOptions& options,
                   const std::function<void(const IngestProgress&)>& on_progress,
                   IngestProgress* final_progress) {
  auto start = std::chrono::steady_clock::now();
  IngestProgress progress;
  std::vector<std::filesystem::path> files;
  Walk(paths, options, &files, &progress);
  progress.files_seen = files.size();
  progress.walk_done = true;
  size_t batch_docs = std::max<size_t>(1, options.batch_documents);

  BoundedQueue<Batch> queue(8);
  // One batch is embedded while the previous one commits: inference and
  // indexing overlap, and at most a few batches are held in memory.
  BoundedQueue<PreparedBatch> prepared_queue(1);
  // Loader threads take files in turn and hand batches to this thread, which
  // chunks, stores and indexes them. Documents of one file stay in order.
  size_t loaders = options.loader_threads;
  if (loaders == 0) loaders = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 4);
  loaders = std::min(loaders, std::max<size_t>(files.size(), 1));
  std::atomic<size_t> next_file{0};
  std::atomic<size_t> running{loaders};
  const Status stopped = Status::Aborted("ingest stopped");
  auto load = [&] {
    Batch batch;
    auto flush = [&]() -> bool {
      bool ok = queue.Push(std::move(batch));
      batch = Batch();
      return ok;
    };
    bool ok = true;
    for (size_t file_idx = next_file++; ok && file_idx < files.size(); file_idx = next_file++) {
      const auto& file = files[file_idx];
      text::LoadFileStats stats;
      Status status = text::LoadFile(
          file,
          [&](Document&& doc) -> Status {
            batch.bytes += doc.text.size();
            batch.docs.push_back(std::move(doc));
            if (batch.docs.size() >= batch_docs && !flush()) return stopped;
            return Status::OK();
          },
          &stats, options.max_file_bytes);
      ++batch.files_done;
      batch.bad_lines += stats.bad_lines;
      if (!stats.first_bad_line_error.empty()) batch.errors.push_back(stats.first_bad_line_error);
      if (status.code() == StatusCode::kAborted) {
        ok = false;
      } else if (!status.ok()) {
        ++batch.skipped_files;
        batch.errors.push_back(file.string() + ": " + status.message());
      }
    }
    if (ok) flush();
    if (--running == 0) queue.Close();
  };
  std::vector<std::thread> loader_threads;
  for (size_t thread_idx = 0; thread_idx < loaders; ++thread_idx) loader_threads.emplace_back(load);

  std::thread preparer([&] {
    Batch loaded;
    while (queue.Pop(&loaded)) {
      PreparedBatch out;
      if (!loaded.docs.empty()) {
        auto prepared = collection->PrepareUpsert(std::move(loaded.docs), options.embedder);
        if (prepared.ok()) {
          out.prepared = std::move(prepared).value();
        } else {
          out.status = prepared.status();
        }
      }
      loaded.docs.clear();
      out.batch = std::move(loaded);
      if (!prepared_queue.Push(std::move(out))) break;
    }
    prepared_queue.Close();
  });

  Status result;
  PreparedBatch ready;
  uint64_t last_flush_seq = collection->Info().snapshot_seq;
  auto stop = [&] {
    prepared_queue.Stop();
    queue.Stop();
  };
  while (prepared_queue.Pop(&ready)) {
    Batch& batch = ready.batch;
    if (!ready.status.ok()) {
      result = ready.status;
      stop();
      break;
    }
    if (ready.prepared != nullptr) {
      auto stats = collection->CommitUpsert(std::move(ready.prepared));
      if (!stats.ok()) {
        result = stats.status();
        stop();
        break;
      }
      progress.documents += stats->added + stats->replaced;
      progress.unchanged += stats->unchanged;
      progress.replaced += stats->replaced;
      progress.chunks += stats->chunks_written;
    }
    progress.files_done += batch.files_done;
    progress.bytes += batch.bytes;
    progress.skipped_files += batch.skipped_files;
    progress.bad_lines += batch.bad_lines;
    for (auto& error : batch.errors) {
      if (progress.first_errors.size() < kMaxErrors) progress.first_errors.push_back(std::move(error));
    }
    progress.elapsed_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (on_progress) on_progress(progress);
    uint64_t seq = collection->Info().last_seq;
    if (seq - last_flush_seq >= options.flush_every_changes) {
      result = collection->Flush();
      if (!result.ok()) {
        stop();
        break;
      }
      last_flush_seq = seq;
    }
  }
  stop();
  for (auto& thread : loader_threads) thread.join();
  preparer.join();
  if (result.ok()) result = collection->Flush();
  progress.elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (on_progress) on_progress(progress);
  if (final_progress != nullptr) *final_progress = progress;
  return result;
}

}  // namespace quarry
