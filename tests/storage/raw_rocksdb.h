#pragma once

// Plain RocksDB access to a node's database, as an attacker, a broken disk or an older ertrd
// would see it: for tests that damage or rewrite what is on disk.

#include <catch2/catch.hpp>

#include <rocksdb/db.h>

#include <filesystem>
#include <initializer_list>
#include <memory>
#include <vector>

namespace ertr::testing {

// Column families in the order of storage/keys.h: h[0] meta, [1] blocks, [2] state,
// [3] consensus, [4] outcomes.
inline std::unique_ptr<rocksdb::DB> OpenRaw(const std::filesystem::path& dir,
                                            std::vector<rocksdb::ColumnFamilyHandle*>& handles,
                                            std::initializer_list<const char*> names = {
                                                "default", "blocks", "state", "consensus",
                                                "outcomes"}) {
  rocksdb::DBOptions options;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const char* name : names) cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
  rocksdb::DB* db = nullptr;
  REQUIRE(rocksdb::DB::Open(options, dir.string(), cfs, &handles, &db).ok());
  return std::unique_ptr<rocksdb::DB>(db);
}

inline void CloseRaw(std::unique_ptr<rocksdb::DB>& db,
                     std::vector<rocksdb::ColumnFamilyHandle*>& h) {
  for (auto* x : h) db->DestroyColumnFamilyHandle(x);
  h.clear();
  db->Close();
  db.reset();
}

}  // namespace ertr::testing
