// Child process of the storage crash test: appends blocks with blobs and state changes as fast as
// it can until the parent kills it with SIGKILL. argv[1] = directory. After each step it writes one
// byte to fd 3 ('o' opened, 'b' blob published, 'a' block appended), so the parent can kill it at
// a random step without depending on how fast this machine is.

#include <unistd.h>

#include <cstdio>

#include "crypto/init.h"
#include "storage/blob_store.h"
#include "storage/stores.h"
#include "tests/storage/crash_workload.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  if (!ertr::crypto::Init().ok()) return 3;
  std::filesystem::path dir = argv[1];
  auto stores = ertr::storage::OpenRocksDbStores(dir / "db");
  if (!stores) {
    std::fprintf(stderr, "%s\n", stores.error().ToString().c_str());
    return 4;
  }
  auto blobs = ertr::storage::OpenBlobStore(dir / "blobs");
  if (!blobs) return 5;
  auto report = [](char step) {
    if (::write(3, &step, 1) != 1) std::_Exit(8);
  };
  report('o');
  for (std::uint64_t h = stores->blocks->LatestHeight().value() + 1;; ++h) {
    auto digest = ertr::storage::PutBlob(**blobs, ertr::testing::CrashBlobContent(h));
    if (!digest) return 6;
    report('b');
    auto appended =
        stores->blocks->Append(ertr::testing::CrashBlock(h), ertr::testing::CrashDelta(h, *digest));
    if (!appended.ok()) return 7;
    report('a');
  }
}
