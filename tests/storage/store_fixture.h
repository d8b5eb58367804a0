#pragma once

// Opens the ledger stores of one implementation for contract tests: every test body runs against
// each implementation (STYLE.md section 9).

#include <memory>
#include <optional>
#include <string>

#include "storage/stores.h"
#include "tests/support/temp_dir.h"

namespace ertr::testing {

struct StoreUnderTest {
  std::string name;
  std::unique_ptr<TempDir> dir;  // RocksDB only
  storage::LedgerStores stores;

  // Closes and reopens (RocksDB: from disk; memory: keeps the objects, as nothing persists).
  void Reopen() {
    if (!dir) return;
    stores = {};
    auto s = storage::OpenRocksDbStores(dir->path() / "db");
    if (s) stores = std::move(*s);
  }
};

inline StoreUnderTest MakeStore(const std::string& kind) {
  StoreUnderTest s;
  s.name = kind;
  if (kind == "rocksdb") {
    s.dir = std::make_unique<TempDir>("ertr-store");
    auto opened = storage::OpenRocksDbStores(s.dir->path() / "db");
    if (opened) s.stores = std::move(*opened);
  } else {
    s.stores = storage::MakeMemoryStores();
  }
  return s;
}

}  // namespace ertr::testing
