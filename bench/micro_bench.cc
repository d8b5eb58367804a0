// Micro-benchmarks of the foundation: signatures, hashing, payload encryption, envelopes and a
// synced block append. Run through bench/run-micro, which writes docs/benchmarks.md.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crypto/envelope.h"
#include "crypto/hash.h"
#include "crypto/init.h"
#include "crypto/lthash.h"
#include "crypto/payload_cipher.h"
#include "crypto/secure_buffer.h"
#include "crypto/session.h"
#include "crypto/sha256.h"
#include "crypto/signing.h"
#include "proto/codec.h"
#include "proto/ledger_codec.h"
#include "storage/blob_store.h"
#include "storage/state_pages.h"
#include "storage/stores.h"
#include "tests/ledger/ledger_world.h"

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

// A record's content address and plaintext digest (ADR 0031): libcrypto's SHA-256, on the CPU's
// SHA extensions where it has them.
void BM_Sha256(benchmark::State& state) {
  Bytes data(static_cast<std::size_t>(state.range(0)), 1);
  for (auto _ : state) benchmark::DoNotOptimize(crypto::Sha256(data));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Sha256)->Arg(64)->Arg(2048)->Arg(1 << 20);

// One state entry into the state root's accumulator: what every state write costs twice (the old
// value out, the new one in), on top of the store's own write.
void BM_LtHashAddEntry(benchmark::State& state) {
  crypto::LtHash16 acc;
  Bytes key(34, 7);
  Bytes value(static_cast<std::size_t>(state.range(0)), 3);
  for (auto _ : state) {
    key[5]++;
    acc.AddEntry(key, value);
  }
  benchmark::DoNotOptimize(acc);
}
BENCHMARK(BM_LtHashAddEntry)->Arg(16)->Arg(200);

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

// One validator-link frame sealed and opened: every peer message, block and blob chunk pays this
// once at the sender and once at the receiver.
void BM_FrameSeal(benchmark::State& state) {
  crypto::FrameSealer sealer(crypto::SecretKey<32>::Random());
  Bytes data(static_cast<std::size_t>(state.range(0)), 3);
  for (auto _ : state) benchmark::DoNotOptimize(sealer.Seal(data, 8));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_FrameSeal)->Arg(128)->Arg(2048)->Arg(1 << 20);

void BM_FrameOpen(benchmark::State& state) {
  auto key = crypto::SecretKey<32>::Random();
  auto copy = [&key] {
    crypto::SecretKey<32> k;
    std::copy(key.UnsafeBytes().begin(), key.UnsafeBytes().end(), k.MutableBytes().begin());
    return k;
  };
  // Frames open only in order, so a run of them is sealed ahead and opened again and again.
  crypto::FrameSealer sealer(copy());
  Bytes data(static_cast<std::size_t>(state.range(0)), 3);
  std::vector<Bytes> frames(std::clamp<std::size_t>((64u << 20) / data.size(), 1, 4096));
  for (Bytes& frame : frames) frame = *sealer.Seal(data);
  auto opener = std::make_unique<crypto::FrameOpener>(copy());
  std::size_t next = 0;
  for (auto _ : state) {
    if (next == frames.size()) {
      state.PauseTiming();
      opener = std::make_unique<crypto::FrameOpener>(copy());
      next = 0;
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(opener->Open(frames[next++]));
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_FrameOpen)->Arg(128)->Arg(2048)->Arg(1 << 20);

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
// Decoding a benchmark command (an 8-byte NullOp, about 90 bytes signed) with its id known, as
// execution does for every transaction of a block; and finding its id, as admission does.
Bytes NullOpTransaction() {
  ledger::TransactionHeader h;
  h.chain_id = "ertr-bench";
  h.nonce = 42;
  ledger::SignedTransaction tx;
  tx.body = proto::EncodeTransactionBody(h, ledger::NullOp{Bytes(8, 7)});
  return proto::EncodeSignedTransaction(tx);
}

void BM_DecodeNullOp(benchmark::State& state) {
  const Bytes bytes = NullOpTransaction();
  const crypto::Digest id = *proto::PeekTransactionId(bytes);
  for (auto _ : state) benchmark::DoNotOptimize(proto::DecodeTransaction(bytes, id));
}
BENCHMARK(BM_DecodeNullOp);

// Decoding a 2 KiB record's transaction (a SubmitRecord with two key envelopes), as admission and
// execution do.
void BM_DecodeRecord(benchmark::State& state) {
  const auto random = [](auto id) {
    std::array<std::uint8_t, decltype(id)::kSize> a{};
    crypto::RandomBytes(a);
    return decltype(id)(a);
  };
  ledger::SubmitRecord r;
  r.record_id = random(ledger::RecordId{});
  r.patient = random(ledger::Pseudonym{});
  r.kind = ledger::RecordKind::kRtBeamsTreatmentRecord;
  r.ciphertext_digest = random(crypto::Digest{});
  r.ciphertext_size = 2048 + 41;
  r.locator.content_digest = r.ciphertext_digest;
  r.uploader_institution_id = "radonc-north";
  r.locator.holder_institutions = {r.uploader_institution_id};
  for (const char* inst : {"radonc-north", "radonc-south"}) {
    r.envelopes.push_back(ledger::KeyEnvelope{inst, random(ledger::SealedKey{})});
  }
  ledger::TransactionHeader h;
  h.chain_id = "ertr-bench";
  h.nonce = 42;
  h.signer = random(crypto::PublicKey{});
  ledger::SignedTransaction tx;
  tx.body = proto::EncodeTransactionBody(h, r);
  const Bytes bytes = proto::EncodeSignedTransaction(tx);
  const crypto::Digest id = *proto::PeekTransactionId(bytes);
  for (auto _ : state) benchmark::DoNotOptimize(proto::DecodeTransaction(bytes, id));
}
BENCHMARK(BM_DecodeRecord);

void BM_PeekTransactionId(benchmark::State& state) {
  const Bytes bytes = NullOpTransaction();
  for (auto _ : state) benchmark::DoNotOptimize(proto::PeekTransactionId(bytes));
}
BENCHMARK(BM_PeekTransactionId);

void BM_SecureBuffer32(benchmark::State& state) {
  for (auto _ : state) {
    crypto::SecureBuffer key(32);
    benchmark::DoNotOptimize(key.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SecureBuffer32);

// BlobStore::Contains for a blob that is not stored, the common case (a catching-up node asks it
// for every blob a peer announces and every record it executes): the small-blob database, then
// the file store.
void BM_BlobContainsAbsent(benchmark::State& state) {
  auto dir = std::filesystem::temp_directory_path() / "ertr-micro-blobs";
  std::filesystem::remove_all(dir);
  auto store = storage::OpenBlobStore(dir);
  if (!store) {
    state.SkipWithError(store.error().ToString().c_str());
    return;
  }
  std::uint64_t i = 0;
  for (auto _ : state) {
    const auto d = crypto::Hash(AsBytes(std::to_string(++i)));
    benchmark::DoNotOptimize((*store)->Contains(d));
  }
  store->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_BlobContainsAbsent);

// Appends blocks of `txs` transactions, each with a state write of `value_bytes` at a random key
// (after `key_prefix`) and `body_bytes` of block body, to a fresh RocksDB store.
struct AppendShape {
  std::size_t txs;
  std::size_t body_bytes;
  std::string_view key_prefix;
  std::size_t value_bytes;
  storage::BlockStore::Durability durability;
  bool time_building;  // whether building the block counts in the timing
};

void AppendBlocks(benchmark::State& state, const char* dir_name, const AppendShape& shape) {
  auto dir = std::filesystem::temp_directory_path() / dir_name;
  std::filesystem::remove_all(dir);
  auto stores = storage::OpenRocksDbStores(dir);
  if (!stores) {
    state.SkipWithError(stores.error().ToString().c_str());
    return;
  }
  std::uint64_t h = 0;
  for (auto _ : state) {
    if (!shape.time_building) state.PauseTiming();
    ++h;
    storage::StoredBlock b;
    b.height = Height(h);
    b.header = Bytes(200, 1);
    b.hash = crypto::Hash(AsBytes("block" + std::to_string(h)));
    b.body = Bytes(shape.txs * shape.body_bytes, 2);
    b.certificate = Bytes(250, 3);
    StateDelta d;
    for (std::size_t i = 0; i < shape.txs; ++i) {
      auto id = crypto::Hash(AsBytes(std::to_string(h) + "/" + std::to_string(i)));
      b.tx_hashes.push_back(id);
      Bytes key = ToBytes(shape.key_prefix);
      Append(key, id.span());
      d.Put(std::move(key), Bytes(shape.value_bytes, 4));
    }
    if (!shape.time_building) state.ResumeTiming();
    if (!stores->blocks->Append(b, d, shape.durability).ok()) state.SkipWithError("append failed");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(shape.txs));
  stores = Status::Internal("closed");
  std::filesystem::remove_all(dir);
}

// A synced append of a block of N transaction ids with N state writes of 256 bytes.
void BM_SyncedBlockAppend(benchmark::State& state) {
  AppendBlocks(state, "ertr-bench-append",
               {static_cast<std::size_t>(state.range(0)), 300, "", 256,
                storage::BlockStore::Durability::kSynced, true});
}
BENCHMARK(BM_SyncedBlockAppend)->Arg(1)->Arg(100)->Arg(1000)->UseRealTime();

// Deferred (unsynced) appends of blocks of 2,000 transactions shaped like the null-op mode's: a
// 40-byte outcome per transaction at a random key, into memtables that fill up over the run (the
// production path appends deferred and syncs once per driver batch).
void BM_DeferredBlockAppend(benchmark::State& state) {
  AppendBlocks(state, "ertr-bench-deferred",
               {2000, 90, "o/", 40, storage::BlockStore::Durability::kDeferred, false});
}
BENCHMARK(BM_DeferredBlockAppend)->Iterations(200)->UseRealTime();

// A RocksDB state store holding 20,000 records of 200 patients who consented to a second
// institution (so each record carries two envelopes, as in ertr-bench), from 4 uploaders, made by
// the chain code in blocks of 100. Unsynced writes, as in the node, whose consensus log's save
// makes them durable. The signatures are this world's BLAKE2b MACs (tests/sim/fake_crypto.h).
class RecordChain {
 public:
  explicit RecordChain(const char* dir_name)
      : dir_(std::filesystem::temp_directory_path() / dir_name) {
    std::filesystem::remove_all(dir_);
    stores_ = storage::OpenRocksDbStores(dir_, {.sync = false});
    if (!stores_) {
      error_ = stores_.error().ToString();
      return;
    }
    world_ = std::make_unique<testing::LedgerWorld>(stores_->state, 4, 7);
    for (int i = 0; i < 4; ++i) uploaders_.push_back(world_->AddUser(0, ledger::Role::kIntegrator));
    for (int i = 0; i < 200; ++i) {
      patients_.push_back(world_->NewId<ledger::Pseudonym>());
      txs_.push_back(world_->Tx(world_->admin(0),
                                ledger::RegisterPatient{patients_.back(), world_->inst(0), {}}));
      txs_.push_back(world_->Tx(
          world_->admin(0), ledger::GrantConsent{world_->NewId<ledger::GrantId>(), patients_.back(),
                                                 ledger::GranteeInstitution{world_->inst(1)},
                                                 ledger::ScopeAll{}, 0}));
    }
    world_->Commit(txs_);
    for (int b = 0; b < 200 && error_.empty(); ++b) {
      for (const auto& r : Commit(100).results) {
        if (r.rejection) error_ = r.rejection->ToString();
      }
    }
  }
  ~RecordChain() {
    world_.reset();
    stores_ = Status::Internal("closed");
    std::filesystem::remove_all(dir_);
  }
  RecordChain(const RecordChain&) = delete;
  RecordChain& operator=(const RecordChain&) = delete;

  // Empty, or why the chain could not be made.
  const std::string& error() const { return error_; }
  storage::StateStore& state() { return *stores_->state; }
  // The next block of `size` records (made, not executed).
  const std::vector<ledger::Transaction>& NextBlock(std::size_t size) {
    txs_.clear();
    for (std::size_t i = 0; i < size; ++i, ++n_) {
      txs_.push_back(
          world_->Tx(uploaders_[n_ % uploaders_.size()],
                     world_->RecordPayload(0, patients_[n_ % patients_.size()],
                                           ledger::RecordKind::kRtBeamsTreatmentRecord, {1})));
    }
    return txs_;
  }
  ledger::BlockResult Commit(std::size_t size) { return world_->Commit(NextBlock(size), 100); }
  ledger::BlockResult CommitMade() { return world_->Commit(txs_, 100); }

 private:
  std::filesystem::path dir_;
  Result<storage::LedgerStores> stores_ = Status::Internal("not opened");
  std::unique_ptr<testing::LedgerWorld> world_;
  std::vector<crypto::PublicKey> uploaders_;
  std::vector<ledger::Pseudonym> patients_;
  std::vector<ledger::Transaction> txs_;
  std::size_t n_ = 0;
  std::string error_;
};

// The chain code executing blocks of `range(0)` record submissions and committing their writes
// (state root included) to a RecordChain: the work a catching-up node's event loop does per
// block, after the signatures (checked elsewhere).
void BM_ExecuteRecordBlock(benchmark::State& state) {
  const auto block_size = static_cast<std::size_t>(state.range(0));
  RecordChain chain("ertr-bench-execute");
  if (!chain.error().empty()) {
    state.SkipWithError(chain.error().c_str());
    return;
  }
  for (auto _ : state) {
    state.PauseTiming();
    chain.NextBlock(block_size);
    state.ResumeTiming();
    auto result = chain.CommitMade();
    if (result.results.size() != block_size || result.results.back().rejection) {
      state.SkipWithError("a record was refused");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(block_size));
}
BENCHMARK(BM_ExecuteRecordBlock)->Arg(5)->Iterations(2000)->UseRealTime();
BENCHMARK(BM_ExecuteRecordBlock)->Arg(100)->Iterations(100)->UseRealTime();

// State transfer (ADR 0037) of a RecordChain's state at a snapshot: range(0) 0, the serving side
// (a page cursor's 4 MiB pages); 1, that and the receiver's check of every entry
// (StateRootBuilder); 2, the serving side and writing each page into an empty RocksDB state store
// (StateStore::Commit, unsynced, which keeps the root itself: what an install would do, with a
// read of each absent key on top). Items are state entries; the counters say how many and how
// many bytes a record leaves (the chain's setup, some 600 entries, is counted with the records).
void BM_StateTransferPages(benchmark::State& state) {
  const bool check = state.range(0) == 1;
  const bool install = state.range(0) == 2;
  RecordChain chain("ertr-bench-state-pages");
  if (!chain.error().empty()) {
    state.SkipWithError(chain.error().c_str());
    return;
  }
  auto snapshot = chain.state().Snapshot();
  if (!snapshot) {
    state.SkipWithError(snapshot.error().ToString().c_str());
    return;
  }
  std::size_t entries = 0;
  std::size_t bytes = 0;
  const auto target_dir = std::filesystem::temp_directory_path() / "ertr-bench-state-install";
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove_all(target_dir);
    auto target = storage::OpenRocksDbStores(target_dir, {.sync = false});
    if (!target) {
      state.SkipWithError(target.error().ToString().c_str());
      return;
    }
    state.ResumeTiming();
    auto cursor = (*snapshot)->OpenCursor();
    storage::StateRootBuilder builder;
    std::optional<Bytes> after;
    entries = 0;
    bytes = 0;
    for (bool more = true; more;) {
      auto page = cursor->Next(after, 4u << 20);
      if (!page || page->entries.empty()) {
        state.SkipWithError("a page could not be read");
        return;
      }
      StateDelta delta;
      for (auto& [k, v] : page->entries) {
        if (check && !builder.Add(k, v).ok()) state.SkipWithError("an entry was refused");
        bytes += k.size() + v.size();
        if (install) delta.Put(std::move(k), std::move(v));
      }
      entries += page->entries.size();
      after = page->entries.back().first;
      more = page->more;
      if (install && !target->state->Commit(delta).ok()) state.SkipWithError("a write failed");
    }
    if (check && builder.Root() != (*snapshot)->root()) state.SkipWithError("another root");
    if (install && target->state->StateRoot() != (*snapshot)->root()) {
      state.SkipWithError("another root installed");
    }
    state.PauseTiming();
    target = Status::Internal("closed");
    std::filesystem::remove_all(target_dir);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(entries));
  state.counters["entries_per_record"] = static_cast<double>(entries) / 20'000;
  state.counters["bytes_per_record"] = static_cast<double>(bytes) / 20'000;
}
BENCHMARK(BM_StateTransferPages)->Arg(0)->Arg(1)->Arg(2)->Iterations(10)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  if (!ertr::crypto::Init().ok()) return 1;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
