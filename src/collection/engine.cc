#include "quarry/engine.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "collection/collection_impl.h"
#include "common/file_util.h"

namespace quarry {

Result<std::unique_ptr<Engine>> Engine::Open(EngineOptions options) {
  if (options.data_dir.empty()) return Status::InvalidArgument("empty data directory");
  std::error_code ec;
  if (options.read_only) {
    if (!std::filesystem::is_directory(options.data_dir, ec)) {
      return Status::NotFound("data directory " + options.data_dir.string() + " does not exist");
    }
  } else {
    std::filesystem::create_directories(options.data_dir / "collections", ec);
    if (ec) {
      return ErrnoStatus("cannot create data directory " + options.data_dir.string(), ec.value());
    }
    if (::access((options.data_dir / "collections").c_str(), W_OK) != 0) {
      return ErrnoStatus("data directory " + options.data_dir.string() + " is not writable", errno);
    }
  }
  return std::unique_ptr<Engine>(new Engine(std::move(options)));
}

Engine::~Engine() = default;

Status Engine::ValidateCollectionName(const std::string& name) {
  bool valid = !name.empty() && name.size() <= 64 && name[0] != '.' &&
               std::all_of(name.begin(), name.end(), [](unsigned char c) {
                 return std::isalnum(c) || c == '_' || c == '-' || c == '.';
               });
  if (!valid) {
    return Status::InvalidArgument("invalid collection name '" + name +
                                   "': use 1-64 letters, digits, '_', '-' or '.'");
  }
  return Status::OK();
}

std::filesystem::path Engine::CollectionDir(const std::string& name) const {
  return options_.data_dir / "collections" / name;
}

Result<Collection*> Engine::OpenCollection(const std::string& name, const CollectionOptions* create) {
  QUARRY_RETURN_IF_ERROR(ValidateCollectionName(name));
  std::lock_guard lock(mu_);
  if (auto it = open_.find(name); it != open_.end()) return it->second.get();
  std::filesystem::path dir = CollectionDir(name);
  std::error_code ec;
  if (!std::filesystem::exists(dir / "data.mdb", ec)) {
    if (create == nullptr || options_.read_only) {
      std::string known;
      for (const auto& other : ListCollections()) known += (known.empty() ? "" : ", ") + other;
      return Status::NotFound("collection '" + name + "' does not exist" +
                              (known.empty() ? std::string(" (no collections yet)")
                                             : " (collections: " + known + ")"));
    }
  }
  storage::StoreOptions store_options;
  store_options.map_size = options_.map_size;
  store_options.read_only = options_.read_only;
  std::unique_ptr<FileLock> writer_lock;
  if (!options_.read_only) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return ErrnoStatus("cannot create " + dir.string(), ec.value());
    auto lock = FileLock::TryAcquire(dir / "LOCK");
    if (lock.ok()) {
      writer_lock = std::move(lock).value();
    } else if (lock.status().code() != StatusCode::kFailedPrecondition) {
      return lock.status();
    } else if (options_.read_only_when_busy && std::filesystem::exists(dir / "data.mdb", ec)) {
      store_options.read_only = true;
    } else {
      return Status::FailedPrecondition("collection '" + name +
                                        "' is being written by another quarry process: " +
                                        lock.status().message());
    }
  }
  QUARRY_ASSIGN_OR_RETURN(auto impl, Collection::Impl::Open(name, dir, create, store_options));
  impl->writer_lock = std::move(writer_lock);
  auto collection = std::unique_ptr<Collection>(new Collection(std::move(impl)));
  Collection* raw = collection.get();
  open_.emplace(name, std::move(collection));
  return raw;
}

Result<Collection*> Engine::GetCollection(const std::string& name) {
  return OpenCollection(name, nullptr);
}

Result<Collection*> Engine::GetOrCreateCollection(const std::string& name,
                                                  const CollectionOptions& options) {
  return OpenCollection(name, &options);
}

Status Engine::DropCollection(const std::string& name) {
  QUARRY_RETURN_IF_ERROR(ValidateCollectionName(name));
  if (options_.read_only) return Status::FailedPrecondition("engine opened read-only");
  std::lock_guard lock(mu_);
  std::filesystem::path dir = CollectionDir(name);
  std::error_code ec;
  if (!std::filesystem::exists(dir / "data.mdb", ec)) {
    return Status::NotFound("collection '" + name + "' does not exist");
  }
  open_.erase(name);
  std::filesystem::remove_all(dir, ec);
  if (ec) return ErrnoStatus("cannot remove " + dir.string(), ec.value());
  return Status::OK();
}

std::vector<std::string> Engine::ListCollections() const {
  std::vector<std::string> names;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(options_.data_dir / "collections", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::error_code exists_ec;
    if (it->is_directory(exists_ec) && std::filesystem::exists(it->path() / "data.mdb", exists_ec)) {
      names.push_back(it->path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace quarry
