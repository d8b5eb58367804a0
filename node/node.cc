#include "node/node.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/host.h"
#include "crypto/init.h"
#include "crypto/key_file.h"
#include "crypto/passphrase.h"
#include "ledger/queries.h"
#include "node/api_internal.h"
#include "node/testnet.h"
#include "proto/codec.h"
#include "proto/consensus_codec.h"
#include "proto/ledger_codec.h"

namespace ertr::node {
namespace {

std::string DescribeChain(const std::string& chain_id, std::uint64_t genesis_time_ms,
                          const std::vector<std::string>& validators) {
  std::string s = "chain '" + chain_id + "' created at " + std::to_string(genesis_time_ms) +
                  " ms with validators";
  for (const auto& v : validators) s += " " + v;
  return s;
}

// Why a data directory's chain (what its genesis wrote, "c/chain") was not created from this
// genesis, if it was not: another chain id, or the same chain id given to another genesis (a
// network set up again, or a test network's file where the hospital's belongs).
// `applied`: whether the state holds this genesis transaction's outcome, i.e. it was created from
// exactly this file (parameters and keys included), not only one alike.
std::optional<std::string> GenesisMismatch(const ledger::ChainState& stored,
                                           const ledger::Genesis& genesis, bool applied) {
  std::vector<std::string> ids;
  for (const auto& inst : genesis.institutions) ids.push_back(inst.id);
  const bool alike = stored.chain_id == genesis.chain_id &&
                     stored.genesis_time_ms == genesis.genesis_time_ms && stored.validators == ids;
  if (alike && applied) return std::nullopt;
  if (alike) {
    return "both are for " + DescribeChain(genesis.chain_id, genesis.genesis_time_ms, ids) +
           ", but the file is another genesis transaction (other parameters, keys or signer)";
  }
  return "the data directory holds " +
         DescribeChain(stored.chain_id, stored.genesis_time_ms, stored.validators) +
         "; the genesis file is for " +
         DescribeChain(genesis.chain_id, genesis.genesis_time_ms, ids);
}

}  // namespace

Node::Node(const NodeConfig& config, std::shared_ptr<spdlog::logger> logger)
    : config_(config), log_(std::move(logger)) {}

Node::~Node() {
  for (auto* pool : {verify_pool_.get(), blob_sync_pool_.get()}) {
    if (pool == nullptr) continue;
    pool->stop();
    pool->join();
  }
  // Close links and listeners while everything their callbacks reach is still alive.
  CloseApi();
  if (transport_) transport_->Stop();
  if (http_) http_->Stop();
}

std::optional<std::uint64_t> Node::FreeDiskBytes() const {
  std::error_code ec;
  const auto space = std::filesystem::space(config_.Resolve(config_.data_dir), ec);
  if (ec) return std::nullopt;
  return space.available;
}

bool Node::CertifiedTransactionValid(ByteSpan bytes, const crypto::Digest& id) const {
  auto tx = proto::DecodeCertifiedTransaction(bytes, id);
  return tx && ledger::IsAuthentic(*tx, *verifier_, benchmark_mode_);
}

void Node::CountForgedTransaction(const crypto::Digest& id) {
  // Only a faulty validator sends these (honest ones never propose or decide them); said at most
  // every 10 s, so that such a validator cannot flood the log. (Why it fails is not logged: its
  // text could quote what the faulty validator put in it.)
  ++forged_transactions_;
  const auto unlogged = forged_log_.Admit(std::chrono::steady_clock::now());
  if (!unlogged) return;
  log_->warn(
      "event=forged_transaction_refused tx={} total={} same_events_not_logged={} reason=\"a "
      "proposal (or a prepared certificate in a view change) holds a copy of this transaction "
      "that no node admits (bytes not canonical, another chain, too large, a signature that does "
      "not verify, or a payload that does not decode or breaks the shape rules): the validator "
      "that sent it is faulty; refused, consensus goes on without it\"",
      id.ShortHex(), forged_transactions_, *unlogged);
}

Status Node::UploadRoomFor(std::uint64_t bytes) const {
  const auto why = DiskShortfall(FreeDiskBytes(), bytes, "the upload");
  if (!why) return Status::Ok();
  return Status::ResourceExhausted(
      *why + ": the node's operator must free disk space (docs/operations.md, 'Disk space')");
}

Result<std::unique_ptr<Node>> Node::Open(const NodeConfig& config,
                                         std::shared_ptr<spdlog::logger> logger) {
  std::unique_ptr<Node> node(new Node(config, std::move(logger)));
  ERTR_RETURN_IF_ERROR(node->Init());
  return node;
}

Status Node::Init() {
  // ParseNodeConfig refuses this too; a config built in code must not get past it either.
  if (!config_.http_allow_remote && !IsLoopbackHost(config_.http_host)) {
    return Status::InvalidArgument("config field 'node.http' is '" + config_.http_host +
                                   "', off loopback, and node.http_allow_remote is not set. " +
                                   kHttpOffLoopback);
  }
  // Keys. A secret file other users of this machine may read is said at once (the key files are
  // encrypted, but not against whoever can also read the passphrase file).
  for (const auto& [path, field] :
       {std::pair{config_.passphrase_file, "keys.passphrase_file"},
        std::pair{config_.validator_key_file, "keys.validator"},
        std::pair{config_.institution_key_file, "keys.institution"},
        std::pair{config_.api_tls_key_file, "api.tls_key_file"},
        std::pair{config_.api_tls_key_passphrase_file, "api.tls_key_passphrase_file"}}) {
    if (path.empty()) continue;
    std::error_code ec;
    const auto file = config_.Resolve(path);
    const auto perms = std::filesystem::status(file, ec).permissions();
    if (ec || (perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all)) ==
                  std::filesystem::perms::none) {
      continue;
    }
    log_->warn(
        "event=secret_file_permissions file={} field={} mode={:o} hint=\"other users of this "
        "machine may read it: chmod 600 {}\"",
        file.string(), field, static_cast<unsigned>(perms), file.string());
  }
  auto pass = crypto::ReadPassphrase(
      config_.passphrase_file.empty() ? "" : config_.Resolve(config_.passphrase_file).string(),
      kPassphraseEnv, "set keys.passphrase_file in " + (config_.home / "config.toml").string());
  if (!pass) return pass.error().WithContext("reading the key passphrase");
  const std::string_view passphrase(reinterpret_cast<const char*>(pass->data()), pass->size());
  ERTR_ASSIGN_OR_RETURN(Bytes vfile,
                        crypto::ReadKeyFileBytes(config_.Resolve(config_.validator_key_file)));
  auto vkey = crypto::DecodeSigningKeyFile(vfile, passphrase);
  if (!vkey) return vkey.error().WithContext(config_.Resolve(config_.validator_key_file).string());
  signer_ = crypto::MakeEd25519Signer(std::move(*vkey));
  // Each transaction's signature is checked when admitted and again when its block executes;
  // the cache makes the second check a hash lookup.
  verifier_ = crypto::MakeCachingVerifier(crypto::MakeEd25519Verifier(), 1u << 15);
  ERTR_ASSIGN_OR_RETURN(Bytes ifile,
                        crypto::ReadKeyFileBytes(config_.Resolve(config_.institution_key_file)));
  auto ikey = crypto::DecodeBoxKeyFile(ifile, passphrase);
  if (!ikey)
    return ikey.error().WithContext(config_.Resolve(config_.institution_key_file).string());
  institution_key_.emplace(std::move(*ikey));
  ERTR_RETURN_IF_ERROR(LoadApiTls(passphrase));

  // Genesis and identity.
  ERTR_ASSIGN_OR_RETURN(auto genesis_tx, proto::LoadGenesis(config_.Resolve(config_.genesis_file)));
  const auto& genesis = std::get<ledger::Genesis>(*genesis_tx.payload);
  chain_id_ = genesis.chain_id;
  params_ = genesis.parameters;
  for (const auto& inst : genesis.institutions) institution_ids_.push_back(inst.id);

  // The stores, and whether node.genesis is the genesis they were created from: checked before
  // this node's place in the genesis, so that another network's file is named as such.
  {
    // A new data directory is the node's user's only (chain data and ciphertext: nothing in
    // clear, but no other user's business either).
    std::error_code ec;
    const auto data_dir = config_.Resolve(config_.data_dir);
    if (std::filesystem::create_directories(data_dir, ec)) {
      std::filesystem::permissions(data_dir, std::filesystem::perms::owner_all, ec);
    }
  }
  ERTR_ASSIGN_OR_RETURN(stores_,
                        storage::OpenRocksDbStores(config_.Resolve(config_.data_dir) / "db"));
  chain_code_ = std::make_unique<ledger::ChainCode>(*verifier_);
  ledger::StateView view(*stores_.state);
  ERTR_ASSIGN_OR_RETURN(auto chain, ledger::LoadChain(view));
  if (chain) {
    ERTR_ASSIGN_OR_RETURN(auto applied, ledger::TransactionOutcome(view, genesis_tx.signed_tx.id));
    if (auto why = GenesisMismatch(*chain, genesis, applied.has_value())) {
      return Status::FailedPrecondition(
          "config field 'node.genesis' (" + config_.Resolve(config_.genesis_file).string() +
          ") names another genesis than the one this node's data directory (" +
          config_.Resolve(config_.data_dir).string() + ") was created from: " + *why +
          ". Point node.genesis at the genesis file of the network this data directory belongs "
          "to; or, to join the file's network instead, give node.data_dir an empty directory "
          "(the node then syncs that network's chain from its peers). The chain there was not "
          "changed");
    }
  }

  const auto index = config_.validator_index.value();
  if (index >= genesis.institutions.size()) {
    return Status::InvalidArgument("config field 'node.validator_index' is " +
                                   std::to_string(index) + " but the genesis has " +
                                   std::to_string(genesis.institutions.size()) + " validators");
  }
  const auto& self = genesis.institutions[index];
  if (self.validator_key != signer_->public_key()) {
    return Status::PermissionDenied(
        "this node's validator key " + signer_->public_key().ShortHex() + "… is not validator " +
        std::to_string(index) + " of the genesis (expected " + self.validator_key.ShortHex() +
        "…); check keys.validator and node.validator_index");
  }
  if (self.id != config_.institution_id) {
    return Status::InvalidArgument("config field 'node.institution_id' is '" +
                                   config_.institution_id + "' but validator " +
                                   std::to_string(index) + " is '" + self.id + "'");
  }
  if (self.encryption_key != institution_key_->public_key()) {
    return Status::InvalidArgument("keys.institution does not hold " + self.id +
                                   "'s encryption key from the genesis");
  }
  std::vector<crypto::PublicKey> keys;
  for (const auto& inst : genesis.institutions) keys.push_back(inst.validator_key);
  ERTR_ASSIGN_OR_RETURN(auto vs, consensus::ValidatorSet::Create(keys));
  validators_.emplace(std::move(vs));

  // The genesis on a fresh data directory.
  if (!chain) {
    ERTR_ASSIGN_OR_RETURN(auto delta, chain_code_->ExecuteGenesis(genesis_tx, *stores_.state));
    ERTR_RETURN_IF_ERROR(stores_.state->Commit(delta));
    log_->info("event=genesis_applied chain={} validators={}", chain_id_, keys.size());
  }

  ERTR_RETURN_IF_ERROR(LoadActiveUsers());

  // The replica, restored from the consensus log and the block store.
  ERTR_ASSIGN_OR_RETURN(auto state,
                        LoadReplicaState(*stores_.consensus_log, stores_.blocks->LatestHeight()));
  const Height last = stores_.blocks->LatestHeight();
  std::uint64_t last_time = genesis.genesis_time_ms;
  if (auto stored = stores_.blocks->LatestBlockTime()) {
    last_time = std::max(last_time, *stored);
  } else if (last > Height(0)) {
    // A database whose newest block an earlier build appended (ADR 0043): the effective time
    // from every header, once; the next block appended stores it.
    log_->info("event=block_time_scan blocks={}", last.value());
    for (Height h(1); h <= last; h = h.Next()) {
      ERTR_ASSIGN_OR_RETURN(auto header_bytes, stores_.blocks->LoadHeader(h));
      ERTR_ASSIGN_OR_RETURN(auto header, proto::DecodeBlockHeader(header_bytes));
      last_time = std::max(last_time, header.time_ms);
    }
  }
  // On a chain that keeps the effective time in the state, the state and the block store were
  // written by the same batches, so they must agree. A state transfer (ADR 0037) will rely on it.
  ERTR_ASSIGN_OR_RETURN(auto state_time, ledger::LoadBlockTime(ledger::StateView(*stores_.state)));
  if (state_time && (state_time->height != last.value() || state_time->time_ms != last_time)) {
    return Status::DataLoss(
        "the data directory (" + config_.Resolve(config_.data_dir).string() +
        ") is inconsistent: its state records block time " + std::to_string(state_time->time_ms) +
        " ms after block " + std::to_string(state_time->height) + ", but its newest block is " +
        std::to_string(last.value()) + " with effective time " + std::to_string(last_time) +
        " ms. Nothing was changed; restore the data directory from a backup, or move it aside "
        "and start with an empty one (the node then syncs the chain from its peers)");
  }
  last_block_time_ms_ = last_time;
  consensus::ReplicaConfig rc;
  rc.chain_id = chain_id_;
  rc.validators = *validators_;
  rc.self = config_.validator_index;
  rc.pipeline_window = config_.pipeline_window;
  rc.min_pipelined_batch = config_.min_pipelined_batch;
  rc.batch_wait_us = config_.batch_wait_us;
  rc.max_block_transactions = genesis.parameters.max_block_transactions;
  rc.max_block_bytes = genesis.parameters.max_block_bytes;
  rc.checkpoint_interval = genesis.parameters.checkpoint_interval;
  rc.view_timeout_ms = config_.view_timeout_ms;
  rc.primary_link_timeout_ms = config_.primary_link_timeout_ms;
  // The replica's check of a proposal's transactions (ADR 0022). The verifier's cache makes it a
  // look-up for transactions checked at admission.
  benchmark_mode_ = genesis.parameters.benchmark_mode;
  checkpoint_interval_ = genesis.parameters.checkpoint_interval;
  rc.certified_transaction_valid = [this](const consensus::Transaction& t) {
    if (CertifiedTransactionValid(t.bytes, t.id)) return true;
    CountForgedTransaction(t.id);
    return false;
  };
  rc.transaction_valid = [this](const consensus::Transaction& t) {
    if (DecodeOrderable(t.bytes, &t.id, mempool_->rules(), *verifier_)) return true;
    CountForgedTransaction(t.id);
    return false;
  };
  replica_ = std::make_unique<consensus::Replica>(rc, *signer_, *verifier_, state, last, last_time);
  ERTR_ASSIGN_OR_RETURN(blobs_,
                        storage::OpenBlobStore(config_.Resolve(config_.data_dir) / "blobs"));
  // A small-blob database that failed a write takes no more (ADR 0011): the node stops, as on a
  // failed consensus or block write; its restart replays the database's log.
  blobs_->SetFailureHandler([this](const Status& s) {
    boost::asio::post(io_, [this, s] {
      if (fatal_) return;
      log_->error("event=fatal reason=\"{}\"", s.WithContext("storing a blob").ToString());
      fatal_ = s.WithContext("storing a blob");
      io_.stop();
    });
  });
  BlobReplicator::Hooks blob_hooks;
  blob_hooks.send = [this](std::optional<ReplicaId> to, const proto::PeerMessage& m) {
    return SendMessage(to, m);
  };
  blob_hooks.is_erased = [this](const crypto::Digest& d) { return IsErasedBlob(d); };
  blob_hooks.is_referenced = [this](const crypto::Digest& d) { return IsReferencedBlob(d); };
  blob_hooks.committed_size = [this](const crypto::Digest& d) { return CommittedBlobSize(d); };
  blob_hooks.on_available = [this](const crypto::Digest& d) { ReleaseGated(d); };
  blob_hooks.defer = [this](std::function<void()> task) {
    boost::asio::post(io_, std::move(task));
  };
  blob_hooks.free_bytes = [this] { return FreeDiskBytes(); };
  blob_sync_pool_ = std::make_unique<boost::asio::thread_pool>(1);
  blob_hooks.sync_in_background = [this](std::function<Status()> sync,
                                         std::function<void(const Status&)> then) {
    boost::asio::post(*blob_sync_pool_, [this, sync = std::move(sync), then = std::move(then)] {
      const auto start = std::chrono::steady_clock::now();
      Status s = sync();
      blob_syncs_.Record(std::chrono::steady_clock::now() - start);
      boost::asio::post(io_, [then, s] { then(s); });
    });
  };
  blob_hooks.in_background = [this](std::function<void()> work, std::function<void()> then) {
    InBackground(std::move(work), std::move(then));
  };
  replicator_ = std::make_unique<BlobReplicator>(*blobs_, validators_->max_faulty() + 1,
                                                 std::move(blob_hooks), log_);
  mempool_ = std::make_unique<Mempool>(
      chain_id_, *verifier_,
      MempoolLimits{std::size_t{config_.mempool_max_mib} << 20, config_.mempool_max_per_signer,
                    genesis.parameters.max_transaction_bytes},
      genesis.parameters.benchmark_mode);

  DriverHooks hooks;
  hooks.send = [this](ReplicaId to, const consensus::Message& m) {
    SendMessage(to, proto::PeerConsensus{proto::EncodeConsensusMessage(m)});
  };
  hooks.broadcast = [this](const consensus::Message& m) {
    SendMessage(std::nullopt, proto::PeerConsensus{proto::EncodeConsensusMessage(m)});
  };
  hooks.deliver = [this](const consensus::Deliver& d, bool body_stored) {
    return Execute(d, body_stored);
  };
  hooks.request_sync = [this](Height from) { RequestBlocks(from, std::nullopt); };
  hooks.on_synced = [this](std::chrono::steady_clock::duration d) {
    consensus_log_syncs_.Record(d);
  };
  hooks.on_fatal = [this](const Status& s) {
    fatal_ = s;
    io_.stop();
  };
  hooks.on_stable = [this](const consensus::CheckpointProof& proof) { OnStableCheckpoint(proof); };
  // Block sync's signature checks use every core (a catching-up node has little else to do).
  verify_pool_ = std::make_unique<boost::asio::thread_pool>(
      std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 4));
  driver_ = std::make_unique<ReplicaDriver>(io_, *replica_, *stores_.consensus_log, state,
                                            std::move(hooks), log_);

  std::vector<net::PeerAddress> peers;
  for (const auto& p : config_.peers) {
    if (!validators_->Contains(p.validator_index)) {
      return Status::InvalidArgument("config [[peers]] names validator " +
                                     std::to_string(p.validator_index.value()) +
                                     ", which the genesis does not have");
    }
    peers.push_back({p.validator_index, validators_->key(p.validator_index), p.host, p.port});
  }
  // A validator missing here could neither be reached nor connect (the transport takes only the
  // peers listed): refused at start rather than found out from refused handshakes.
  for (std::uint32_t i = 0; i < validators_->size(); ++i) {
    const ReplicaId v(i);
    if (v == config_.validator_index) continue;
    if (std::none_of(peers.begin(), peers.end(), [v](const auto& p) { return p.id == v; })) {
      return Status::InvalidArgument(
          "config [[peers]] has no entry for validator " + std::to_string(i) + " (node key " +
          validators_->key(v).ShortHex() +
          "…), which the genesis has: this node could neither reach it nor accept its "
          "connections. Add a [[peers]] table with validator_index = " +
          std::to_string(i) + " and that node's address = \"host:port\"");
    }
  }
  net::TransportOptions topts;
  topts.chain_id = chain_id_;
  topts.self = config_.validator_index;
  topts.listen_host = config_.listen_host;
  topts.listen_port = config_.listen_port;
  transport_ = std::make_unique<net::Transport>(
      io_, topts, *signer_, std::move(peers),
      [this](ReplicaId from, Bytes payload) { OnPeerMessage(from, std::move(payload)); },
      [this](ReplicaId peer, bool up) {
        driver_->Post(consensus::PeerLink{peer, up});
        if (up) {
          SendMessage(peer, proto::PeerStatus{stores_.blocks->LatestHeight(), replica_->view()});
          replicator_->OnPeerConnected(peer);
          ResendOutbox(peer);
        } else {
          replicator_->OnPeerDisconnected(peer);
          peer_heights_.erase(peer);
          UpdateBestPeerHeight();
        }
      },
      log_);
  http_ = std::make_unique<HttpServer>(io_, config_.http_host, config_.http_port,
                                       [this](const HttpRequest& r) { return OnHttp(r); });
  const bool bulk_on_libcrypto = crypto::BulkCiphersOnLibcrypto();
  if (!bulk_on_libcrypto) {
    log_->warn(
        "event=bulk_ciphers_on_libsodium reason=\"OpenSSL's configuration (OPENSSL_CONF) offers no "
        "ChaCha20 or Poly1305: large payloads and blocks are encrypted with libsodium, in the same "
        "format but more slowly (docs/adr/0028)\"");
  }
  log_->info(
      "event=node_opened chain={} validator={} institution={} height={} view={} bulk_ciphers={}",
      chain_id_, index, config_.institution_id, last.value(), state.view.value(),
      bulk_on_libcrypto ? "libcrypto" : "libsodium");
  return Status::Ok();
}

Status Node::Run() {
  ERTR_RETURN_IF_ERROR(transport_->Start());
  ERTR_RETURN_IF_ERROR(http_->Start());
  ERTR_RETURN_IF_ERROR(StartApi());
  boost::asio::signal_set signals(io_, SIGINT, SIGTERM);
  signals.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log_->info("event=stopping signal={}", sig);
    tick_.cancel();
    transport_->Stop();
    http_->Stop();
    io_.stop();
  });
  Tick();
  log_->info("event=node_started p2p={}:{} http={}:{} api={}:{}{}", config_.listen_host,
             transport_->listen_port(), config_.http_host, http_->port(), config_.api_host,
             api_port_, config_.api_tls_cert_file.empty() ? "" : " (tls)");
  if (config_.http_allow_remote && !IsLoopbackHost(config_.http_host)) {
    log_->warn("event=http_off_loopback http={}:{} reason=\"node.http_allow_remote is set. {}\"",
               config_.http_host, http_->port(), kHttpOffLoopback);
  }
  // Kick the replica (a restarted primary re-arms its timers on the first event).
  driver_->Post(consensus::TransactionsReceived{});
  io_.run();
  // After a fatal error the process exits at once (ertrd_main): no clean API shutdown, which
  // could wait on calls that needed the stopped io thread (a node hung there once, in the chaos
  // harness, instead of exiting).
  if (fatal_) return *fatal_;
  CloseApi();
  log_->info("event=stopped height={}", stores_.blocks->LatestHeight().value());
  return Status::Ok();
}

Result<crypto::Digest> Node::Execute(const consensus::Deliver& d, bool body_stored) {
  const Height h = d.proposal.header.height;
  std::vector<ledger::Transaction> txs;
  std::vector<crypto::Digest> ids;
  txs.reserve(d.proposal.txs.size());
  for (const auto& t : d.proposal.txs) {
    auto tx = proto::DecodeTransaction(t.bytes, t.id);
    if (!tx) return tx.error().WithContext("decided transaction " + t.id.ShortHex());
    ids.push_back(tx->signed_tx.id);
    txs.push_back(std::move(*tx));
  }
  // A block handed on by block sync is executed without its signatures checked (they were
  // not, ADR 0038); one this replica decided, through the verifier's cache.
  ERTR_ASSIGN_OR_RETURN(auto result, chain_code_->ExecuteBlock({h, d.time_ms, h <= synced_through_},
                                                               txs, *stores_.state));
  storage::StoredBlock block;
  block.height = h;
  block.hash = d.proposal.digest;
  block.header = proto::EncodeBlockHeader(d.proposal.header);
  // The bytes as decided, not re-encoded; kept for the API's receipts when the consensus log
  // stored them already (ADR 0025).
  block.body = proto::EncodeBlockBody(d.proposal.txs);
  block.body_stored = body_stored;
  block.certificate = proto::EncodeCommitCertificate(d.certificate);
  block.time_ms = d.time_ms;
  block.tx_hashes = ids;
  // Durable with the driver's next synced consensus log save (the same database): the next
  // persist, before a CHECKPOINT leaves, or within kBlockSyncDelay. API callers are told at once:
  // the block is decided whatever this disk does next (ADR 0024).
  ERTR_RETURN_IF_ERROR(
      stores_.blocks->Append(block, result.writes, storage::BlockStore::Durability::kDeferred));
  if (h.value() % checkpoint_interval_ == 0) TakeStateSnapshot(h);
  mempool_->Remove(ids);
  OnBlockBlobs(txs, result);
  OnBlockApi(block, result, txs, d.time_ms);
  const auto now = std::chrono::steady_clock::now();
  std::uint64_t rejected = 0;
  for (const auto& r : result.results) {
    rejected += r.accepted() ? 0 : 1;
    if (!r.accepted()) {
      // The reason and field only: a rule's message may name a pseudonym.
      log_->info("event=transaction_rejected tx={} height={} reason={} field={}",
                 r.tx_id.ShortHex(), h.value(), ledger::RejectReasonName(r.rejection->reason),
                 r.rejection->field);
    }
    auto it = outbox_.find(r.tx_id);
    if (it == outbox_.end()) continue;
    commit_latency_.Record(now - it->second.admitted);
    outbox_.erase(it);
  }
  tx_committed_ += result.results.size() - rejected;
  tx_rejected_ += rejected;
  const crypto::Digest root = stores_.state->StateRoot();
  log_->info("event=block_committed height={} txs={} rejected={} root={} view={}", h.value(),
             txs.size(), rejected, root.ShortHex(), replica_->view().value());
  return root;
}

Result<crypto::Digest> Node::Admit(ByteSpan bytes, std::optional<ReplicaId> from,
                                   OutcomeCheck check) {
  AdmitBatch batch;
  auto r = Admit(bytes, from, batch, check);
  FlushAdmitted(batch, from);
  return r;
}

void Node::AddToGossip(GossipBatch& batch, const Bytes& tx, const PeerFilter& to,
                       std::optional<Bytes> blob) {
  // One gossip message stays well inside a peer message's bounds.
  const std::size_t size = tx.size() + (blob ? blob->size() : 0);
  if (batch.txs.size() >= proto::kMaxGossipTransactions ||
      batch.bytes + size > proto::kMaxPeerMessageBytes / 2) {
    SendGossip(batch, to);
  }
  batch.bytes += size;
  batch.txs.push_back(tx);
  if (blob) batch.blobs.push_back(std::move(*blob));
}

void Node::SendGossip(GossipBatch& batch, const PeerFilter& to) {
  if (batch.txs.empty()) return;
  // Duplicates are dropped by id at the receiver.
  const Bytes m = proto::EncodePeerMessage(
      proto::PeerTransactions{std::move(batch.txs), std::move(batch.blobs)});
  for (const auto& p : config_.peers) {
    if (to(p.validator_index)) transport_->Send(p.validator_index, m);
  }
  batch.txs.clear();
  batch.blobs.clear();
  batch.bytes = 0;
}

void Node::ResendOutbox(std::optional<ReplicaId> to) {
  const auto now = std::chrono::steady_clock::now();
  const PeerFilter dest = [to](ReplicaId p) { return !to || p == *to; };
  GossipBatch batch;
  for (auto& [id, out] : outbox_) {
    if (!to && now - out.sent < kRegossipAfter) continue;
    AddToGossip(batch, out.bytes, dest);
    ++regossiped_;
    if (!to) out.sent = now;
  }
  SendGossip(batch, dest);
}

void Node::RelayStale(std::chrono::steady_clock::time_point now) {
  // One batch per sender, so that nothing goes back to where it came from.
  std::map<ReplicaId, GossipBatch> batches;
  while (!relay_queue_.empty() && now - relay_queue_.front().arrived >= kRelayAfter) {
    const Relay& r = relay_queue_.front();
    if (mempool_->Contains(r.id)) {
      AddToGossip(batches[r.from], r.bytes, AllBut(r.from));
      ++relayed_;
    }
    relay_queue_bytes_ -= r.bytes.size();
    relay_queue_.pop_front();
  }
  for (auto& [from, batch] : batches) SendGossip(batch, AllBut(from));
}

void Node::FlushAdmitted(AdmitBatch& batch, std::optional<ReplicaId> from) {
  SendGossip(batch.gossip, AllBut(from));
  if (!batch.ready.empty()) {
    driver_->Post(consensus::TransactionsReceived{std::move(batch.ready)});
    batch.ready.clear();
  }
}

Result<crypto::Digest> Node::Admit(ByteSpan bytes, std::optional<ReplicaId> from, AdmitBatch& batch,
                                   OutcomeCheck check) {
  ERTR_ASSIGN_OR_RETURN(auto typed, mempool_->Add(bytes));
  consensus::Transaction tx{typed.signed_tx.id, Bytes(bytes.begin(), bytes.end())};
  if (ledger::IsUnsignedCommand(typed.signed_tx.header, benchmark_mode_)) {
    // A benchmark command leaves no outcome to look up (ADR 0023): a copy of one the replica
    // delivered is refused here, or it would wait in the pool for an order that never comes.
    if (replica_->RecentlyDelivered(tx.id)) {
      mempool_->Remove({tx.id});
      return Status::FailedPrecondition(
          "command " + tx.id.ShortHex() +
          "… was committed already; a benchmark chain keeps no outcome of a NullOp to answer "
          "with (ADR 0023): send a new command");
    }
  } else if (check == OutcomeCheck::kLookUp) {
    ledger::StateView view(*stores_.state);
    auto looked_up = ledger::TransactionOutcome(view, tx.id);
    if (!looked_up) {
      mempool_->Remove({tx.id});  // not admitted after all: a retry may admit it
      return looked_up.error();
    }
    if (const auto& outcome = *looked_up) {
      mempool_->Remove({tx.id});
      return Status::AlreadyExists("transaction " + tx.id.ShortHex() +
                                   "… is committed already (height " +
                                   std::to_string(outcome->height) + ")");
    }
  }
  const auto* submit = typed.payload ? std::get_if<ledger::SubmitRecord>(&*typed.payload) : nullptr;
  // A record uploaded at this node must still be here when it is submitted here: an upload is
  // provisional until then (stored unsynced, deleted after kUploadTtl), so a power cut after the
  // upload or a late submission can find it gone. Said now, rather than after BlobWait() of
  // waiting for holders that will never come.
  const auto own_upload =
      submit ? unsubmitted_uploads_.find(submit->ciphertext_digest) : unsubmitted_uploads_.end();
  if (!from && submit && submit->uploader_institution_id == config_.institution_id &&
      own_upload == unsubmitted_uploads_.end() &&
      replicator_->Holders(submit->ciphertext_digest) == 0) {
    mempool_->Remove({tx.id});
    return Status::FailedPrecondition(
        "the record's ciphertext " + submit->ciphertext_digest.ShortHex() +
        "… (submit_record.ciphertext_digest) is not stored at this node and no peer holds it: "
        "its upload expired unsubmitted (after " +
        std::to_string(api::kUploadTtl.count()) +
        " minutes), was lost in a power cut just after it, or was never made here; upload the "
        "record again");
  }
  // Its size as stored here: once the record commits, the pulls of nodes lacking the blob take
  // no other size (BlobReplicator::Settle), so a record naming another would not reach them.
  // Said at once here (a copy from a peer is not passed on); at a node without the ciphertext
  // such a record is never ordered: only holders announcing its size count toward its
  // availability, and honest ones announce the ciphertext's (ReleaseGated, ADR 0036). Read once,
  // for the availability below too.
  std::optional<std::uint64_t> stored;
  if (submit) {
    if (auto size = blobs_->Size(submit->ciphertext_digest)) stored = *size;
    if (stored && *stored != submit->ciphertext_size) {
      mempool_->Remove({tx.id});
      return Status::InvalidArgument(
          WrongCiphertextSize(submit->ciphertext_digest, submit->ciphertext_size, *stored));
    }
  }
  // Gossiped at once by its origin (or by a peer whose relay queue is full); else queued for
  // RelayStale (ADR 0018).
  const auto now = std::chrono::steady_clock::now();
  if (!from) outbox_.insert_or_assign(tx.id, Outbound{tx.bytes, now, now});
  if (from && relay_queue_.size() < kMaxRelayQueue &&
      relay_queue_bytes_ + tx.bytes.size() <= kMaxRelayBytes) {
    relay_queue_bytes_ += tx.bytes.size();
    relay_queue_.push_back(Relay{now, *from, tx.id, tx.bytes});
  } else {
    // A record's small blob uploaded here goes along with its transaction's first gossip, so that
    // the peers store it at once instead of pulling it (docs/spec/wire.md section 4).
    std::optional<Bytes> blob;
    if (!from && own_upload != unsubmitted_uploads_.end() &&
        submit->ciphertext_size <= storage::kSmallBlobBytes) {
      if (auto content = storage::GetBlob(*blobs_, submit->ciphertext_digest)) {
        blob = std::move(*content);
      }
    }
    AddToGossip(batch.gossip, tx.bytes, AllBut(from), std::move(blob));
    if (from) ++relayed_at_once_;
  }
  const crypto::Digest id = tx.id;
  // A record is ordered only once f+1 nodes hold its blob (so it stays fetchable when its
  // uploader is offline); until then it waits here, and this node fetches the blob too.
  if (submit) {
    // An upload of this node is made durable and announced to the peers only now that its
    // record is submitted (it was stored unsynced: UploadCall).
    if (own_upload != unsubmitted_uploads_.end()) {
      own_upload->second = std::chrono::steady_clock::now() + api::kUploadTtl;
      replicator_->AnnounceUnsynced(submit->ciphertext_digest);
    }
    if (!replicator_->IsAvailable(submit->ciphertext_digest, submit->ciphertext_size, stored)) {
      // Blobs come along only in a peer's gossip; one taken from it needs no pull.
      if (!from || !TakeOfferedBlob(*submit, *from, batch)) {
        replicator_->Fetch(submit->ciphertext_digest, NamedHolder(*submit));
      }
      gated_[submit->ciphertext_digest].txs.push_back(
          {std::move(tx), submit->ciphertext_size, std::chrono::steady_clock::now()});
      return id;
    }
    // Available elsewhere already: this node pulls its copy now too (announcements of blobs no
    // record it knows names are not pulled, BlobReplicator::Hooks::is_referenced).
    if (from) replicator_->Fetch(submit->ciphertext_digest);
  }
  batch.ready.push_back(std::move(tx));
  return id;
}

}  // namespace ertr::node
