// Micro-benchmarks of the foundation: signatures, hashing, payload encryption, envelopes and a
// synced block append. Run through bench/run-micro, which writes docs/benchmarks.md.

#include <benchmark/benchmark.h>

#include <filesystem>

#include "crypto/envelope.h"
#include "crypto/hash.h"
#include "crypto/init.h"
#include "crypto/payload_cipher.h"
#include "crypto/secure_buffer.h"
#include "crypto/signing.h"
#include "storage/stores.h"

namespace {

using namespace ertr;

void BM_Ed25519Sign(benchmark::State& state) {
  auto key = crypto::SigningKey::Generate();
  Bytes msg(64, 7);
  for (auto _ : state) {
    benchmark::DoNotOptimize(key.Sign(crypto::SigningDomain::kTransaction, "bench", msg));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ed25519Sign);

void BM_Ed25519Verify(benchmark::State& state) {
  auto key = crypto::SigningKey::Generate();
  Bytes msg(64, 7);
  auto sig = *key.Sign(crypto::SigningDomain::kTransaction, "bench", msg);
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        crypto::Verify(key.public_key(), crypto::SigningDomain::kTransaction, "bench", msg, sig));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ed25519Verify);

void BM_Blake2b256(benchmark::State& state) {
  Bytes data(static_cast<std::size_t>(state.range(0)), 1);
  for (auto _ : state) benchmark::DoNotOptimize(crypto::Hash(data));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Blake2b256)->Arg(64)->Arg(2048)->Arg(1 << 20);

void BM_PayloadEncrypt(benchmark::State& state) {
  auto key = crypto::DataKey::Random();
  Bytes data(static_cast<std::size_t>(state.range(0)), 3);
  Bytes out;
  out.reserve(crypto::PayloadCiphertextSize(data.size()));
  for (auto _ : state) {
    out.clear();
    auto enc = crypto::PayloadEncryptor::Create(key);
    enc->Update(data, out);
    enc->Finish(out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_PayloadEncrypt)->Arg(2048)->Arg(1 << 20)->Arg(16 << 20);

void BM_PayloadDecrypt(benchmark::State& state) {
  auto key = crypto::DataKey::Random();
  Bytes data(static_cast<std::size_t>(state.range(0)), 3);
  Bytes ct = crypto::EncryptPayload(key, data);
  for (auto _ : state) benchmark::DoNotOptimize(crypto::DecryptPayload(key, ct));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_PayloadDecrypt)->Arg(1 << 20);

void BM_EnvelopeSeal(benchmark::State& state) {
  auto inst = crypto::BoxKeyPair::Generate();
  auto key = crypto::DataKey::Random();
  for (auto _ : state) benchmark::DoNotOptimize(crypto::SealDataKey(key, inst.public_key()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EnvelopeSeal);

void BM_EnvelopeOpen(benchmark::State& state) {
  auto inst = crypto::BoxKeyPair::Generate();
  auto key = crypto::DataKey::Random();
  Bytes env = crypto::SealDataKey(key, inst.public_key());
  for (auto _ : state) benchmark::DoNotOptimize(crypto::OpenEnvelope(env, inst));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EnvelopeOpen);

// A guarded 32-byte secret (a data key) allocated and freed, as for every record.
void BM_SecureBuffer32(benchmark::State& state) {
  for (auto _ : state) {
    crypto::SecureBuffer key(32);
    benchmark::DoNotOptimize(key.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SecureBuffer32);

// A synced append of a block of N transaction ids with N state writes of 256 bytes.
void BM_SyncedBlockAppend(benchmark::State& state) {
  auto dir = std::filesystem::temp_directory_path() / "ertr-bench-append";
  std::filesystem::remove_all(dir);
  auto stores = storage::OpenRocksDbStores(dir);
  if (!stores) {
    state.SkipWithError(stores.error().ToString().c_str());
    return;
  }
  const auto n = static_cast<std::size_t>(state.range(0));
  std::uint64_t h = 0;
  for (auto _ : state) {
    ++h;
    storage::StoredBlock b;
    b.height = Height(h);
    b.header = Bytes(200, 1);
    b.hash = crypto::Hash(AsBytes("block" + std::to_string(h)));
    b.body = Bytes(n * 300, 2);
    b.certificate = Bytes(250, 3);
    StateDelta d;
    for (std::size_t i = 0; i < n; ++i) {
      auto id = crypto::Hash(AsBytes(std::to_string(h) + "/" + std::to_string(i)));
      b.tx_hashes.push_back(id);
      d.Put(id.ToBytes(), Bytes(256, 4));
    }
    if (!stores->blocks->Append(b, d).ok()) state.SkipWithError("append failed");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
  stores = Status::Internal("closed");
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_SyncedBlockAppend)->Arg(1)->Arg(100)->Arg(1000)->UseRealTime();

// Deferred (unsynced) appends of blocks of 2,000 transactions shaped like the null-op mode's: an
// index entry and a 40-byte outcome per transaction at random keys, into memtables that fill up
// over the run (the production path appends deferred and syncs once per driver batch).
void BM_DeferredBlockAppend(benchmark::State& state) {
  auto dir = std::filesystem::temp_directory_path() / "ertr-bench-deferred";
  std::filesystem::remove_all(dir);
  auto stores = storage::OpenRocksDbStores(dir);
  if (!stores) {
    state.SkipWithError(stores.error().ToString().c_str());
    return;
  }
  constexpr std::size_t kTxs = 2000;
  std::uint64_t h = 0;
  for (auto _ : state) {
    state.PauseTiming();
    ++h;
    storage::StoredBlock b;
    b.height = Height(h);
    b.header = Bytes(200, 1);
    b.hash = crypto::Hash(AsBytes("block" + std::to_string(h)));
    b.body = Bytes(kTxs * 90, 2);
    b.certificate = Bytes(250, 3);
    StateDelta d;
    for (std::size_t i = 0; i < kTxs; ++i) {
      auto id = crypto::Hash(AsBytes(std::to_string(h) + "/" + std::to_string(i)));
      b.tx_hashes.push_back(id);
      Bytes key = ToBytes("o/");
      Append(key, id.span());
      d.Put(std::move(key), Bytes(40, 4));
    }
    state.ResumeTiming();
    if (!stores->blocks->Append(b, d, storage::BlockStore::Durability::kDeferred).ok()) {
      state.SkipWithError("append failed");
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kTxs));
  stores = Status::Internal("closed");
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_DeferredBlockAppend)->Iterations(200)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  if (!ertr::crypto::Init().ok()) return 1;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
