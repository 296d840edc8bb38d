// Engine: the entry point. Owns a data directory and the collections in it.
//
//   auto engine = quarry::Engine::Open({.data_dir = "./data"});
//   auto coll = (*engine)->GetOrCreateCollection("docs", {});
//   (*coll)->Upsert(docs);
//   auto hits = (*coll)->Search({.text = "vacuum freeze", .limit = 5});
//
// Layout on disk: DATA_DIR/collections/NAME/{data.mdb,lock.mdb,bm25.snap}.
//
// Thread-safety: all methods may be called concurrently. Collection pointers
// stay valid until the Engine is destroyed or the collection dropped.
#ifndef QUARRY_ENGINE_H_
#define QUARRY_ENGINE_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "quarry/collection.h"
#include "quarry/status.h"

namespace quarry {

struct EngineOptions {
  std::filesystem::path data_dir = "./data";
  uint64_t map_size = 64ull << 30;  // per-collection LMDB map size (address space)
  bool read_only = false;           // open existing collections only, write nothing
  // One process at a time writes a collection (a lock file in its folder).
  // When another process holds it: open the collection read-only if this is
  // set (searches see what was committed when it opened), else fail.
  bool read_only_when_busy = false;
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> Open(EngineOptions options);
  ~Engine();

  // Collection names: 1-64 of [A-Za-z0-9_.-], not starting with '.'.
  static Status ValidateCollectionName(const std::string& name);

  // NotFound when it does not exist.
  Result<Collection*> GetCollection(const std::string& name);
  // Creates it with `options` when missing; an existing one keeps its options.
  Result<Collection*> GetOrCreateCollection(const std::string& name,
                                            const CollectionOptions& options);
  Status DropCollection(const std::string& name);
  std::vector<std::string> ListCollections() const;
  const EngineOptions& options() const { return options_; }

 private:
  explicit Engine(EngineOptions options) : options_(std::move(options)) {}
  Result<Collection*> OpenCollection(const std::string& name, const CollectionOptions* create);
  std::filesystem::path CollectionDir(const std::string& name) const;

  EngineOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Collection>> open_;
};

}  // namespace quarry

#endif  // QUARRY_ENGINE_H_
