#pragma once

// Opens the ledger stores of one implementation for contract tests: every test body runs against
// each implementation (STYLE.md section 9).

#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crypto/hash.h"
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

// Every entry of a state scan under `prefix`, in the order the scan gave them; FAILs on an error.
inline std::vector<std::pair<Bytes, Bytes>> ScanAll(const StateReader& state, ByteSpan prefix) {
  std::vector<std::pair<Bytes, Bytes>> out;
  const Status s = state.ScanPrefix(prefix, [&](ByteSpan k, ByteSpan v) {
    out.emplace_back(Bytes(k.begin(), k.end()), Bytes(v.begin(), v.end()));
    return true;
  });
  REQUIRE(s.ok());
  return out;
}

// A block of `txs` made-up transactions at height h, with made-up parts and time.
inline storage::StoredBlock MakeBlock(std::uint64_t h, std::size_t txs) {
  storage::StoredBlock b;
  b.height = Height(h);
  b.header = ToBytes("header-" + std::to_string(h));
  b.hash = crypto::Hash(b.header);
  b.body = ToBytes("body-" + std::to_string(h));
  b.certificate = ToBytes("cert-" + std::to_string(h));
  b.time_ms = 1'000'000 + 10 * h;
  for (std::size_t i = 0; i < txs; ++i) {
    b.tx_hashes.push_back(
        crypto::Hash(AsBytes("tx-" + std::to_string(h) + "-" + std::to_string(i))));
  }
  return b;
}

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
