// Writes the committed seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/): one valid
// input per format, so the fuzzers start from the real shapes. Run from the repository root:
//   build/tests/fuzz/make_fuzz_seeds tests/fuzz/corpus

#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/synthetic_dicom.h"
#include "crypto/box_key.h"
#include "crypto/envelope.h"
#include "crypto/init.h"
#include "crypto/key_file.h"
#include "crypto/payload_cipher.h"
#include "net/frame.h"
#include "net/handshake.h"
#include "node/config.h"
#include "proto/api_auth.h"
#include "proto/api_codec.h"
#include "proto/codec.h"
#include "proto/consensus_codec.h"
#include "proto/ledger_codec.h"
#include "proto/peer_codec.h"
#include "proto/receipt.h"
#include "tests/fuzz/fuzz_chain.h"

namespace {

void Write(const std::filesystem::path& dir, const std::string& name, const ertr::Bytes& data) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary)
      .write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ertr;
  if (argc != 2 || !crypto::Init().ok()) {
    std::cerr << "usage: make_fuzz_seeds CORPUS_DIR\n";
    return 2;
  }
  std::filesystem::path root = argv[1];
  auto key = *crypto::SigningKey::FromSeed(Bytes(32, 7));
  // TransactionBody{chain_id "ertr-seed", signer, nonce 1, null_op{payload 8 bytes}}.
  Bytes body = {0x0a, 9};
  Append(body, AsBytes("ertr-seed"));
  body.push_back(0x12);
  body.push_back(32);
  Append(body, key.public_key().span());
  Append(body, Bytes{0x18, 0x01, 0xaa, 0x01, 10, 0x0a, 8, 1, 2, 3, 4, 5, 6, 7, 8});
  ledger::SignedTransaction tx;
  tx.body = body;
  tx.signature = *key.Sign(crypto::SigningDomain::kTransaction, "ertr-seed", body);
  tx.id = ledger::TransactionId(body);
  Write(root / "fuzz_tx_decode", "null_op_tx", proto::EncodeSignedTransaction(tx));

  proto::Block b;
  b.transactions = {tx, tx};
  b.header.chain_id = "ertr-seed";
  b.header.height = Height(3);
  b.header.tx_root = proto::TransactionRoot(b.transactions);
  b.header.tx_count = 2;
  b.hash = consensus::ProposalDigest(b.header);
  b.certificate = {b.header.height, View(0), b.hash, {{ReplicaId(0), crypto::Signature()}}};
  Write(root / "fuzz_block_decode", "two_tx_block", proto::EncodeBlock(b));
  Write(root / "fuzz_block_decode", "header", proto::EncodeBlockHeader(b.header));

  // Consensus messages: a pre-prepare with the block's transactions, a vote, and a view change
  // carrying a prepared certificate.
  Bytes tx_bytes = proto::EncodeSignedTransaction(tx);
  consensus::Proposal prop = consensus::MakeProposal("ertr-seed", Height(3), 1000, ReplicaId(0),
                                                     {consensus::Transaction{tx.id, tx_bytes}});
  consensus::PrePrepare pp{View(2), prop, ReplicaId(0), crypto::Signature()};
  Write(root / "fuzz_consensus_decode", "pre_prepare", proto::EncodeConsensusMessage(pp));
  consensus::Prepare vote;
  vote.view = View(2);
  vote.height = Height(3);
  vote.digest = prop.digest;
  vote.sender = ReplicaId(1);
  Write(root / "fuzz_consensus_decode", "prepare", proto::EncodeConsensusMessage(vote));
  consensus::ViewChange vc;
  vc.new_view = View(3);
  vc.prepared.push_back({View(2), prop, {vote, vote}});
  vc.sender = ReplicaId(1);
  Write(root / "fuzz_consensus_decode", "view_change", proto::EncodeConsensusMessage(vc));
  consensus::NewView nv{View(3), {vc, vc}, ReplicaId(3), crypto::Signature()};
  Write(root / "fuzz_consensus_decode", "new_view", proto::EncodeConsensusMessage(nv));
  // The compact PRE-PREPARE and the fetch of its transactions (ADR 0026).
  Write(root / "fuzz_consensus_decode", "pre_prepare_compact",
        proto::EncodeConsensusMessage(consensus::CompactPrePrepare(pp)));
  consensus::FetchTransactions fetch{View(2), Height(3), prop.digest, {tx.id}, ReplicaId(2)};
  Write(root / "fuzz_consensus_decode", "fetch_transactions", proto::EncodeConsensusMessage(fetch));
  consensus::FetchedTransactions fetched{
      View(2), Height(3), prop.digest, {consensus::Transaction{tx.id, tx_bytes}}, ReplicaId(0)};
  Write(root / "fuzz_consensus_decode", "fetched_transactions",
        proto::EncodeConsensusMessage(fetched));
  // A view change's certificates as headers, and the fetch of a re-proposal (ADR 0040).
  consensus::ViewChange headers_vc = vc;
  headers_vc.prepared[0] = consensus::HeaderOnly(vc.prepared[0]);
  Write(root / "fuzz_consensus_decode", "view_change_headers",
        proto::EncodeConsensusMessage(headers_vc));
  Write(root / "fuzz_consensus_decode", "fetch_proposal",
        proto::EncodeConsensusMessage(
            consensus::FetchProposal{View(3), Height(3), prop.digest, ReplicaId(2)}));
  Write(root / "fuzz_consensus_decode", "fetched_proposal",
        proto::EncodeConsensusMessage(consensus::FetchedProposal{View(3), prop, ReplicaId(1)}));

  auto kf = crypto::EncodeKeyFile(key, "fuzz", crypto::KdfCost::Minimum());
  Write(root / "fuzz_key_file", "ed25519_min_cost", *kf);

  crypto::DataKey zero;  // the fuzz target decrypts with the all-zero key
  Bytes ct = {16};       // first byte: piece size for the target
  Append(ct, crypto::EncryptPayload(zero, Bytes(3000, 0x42), 1024));
  Write(root / "fuzz_payload_decrypt", "three_chunks", ct);
  Write(root / "fuzz_payload_decrypt", "envelope",
        crypto::SealDataKey(zero, crypto::BoxKeyPair::Generate().public_key()));
  // Typed transactions against the fuzz chain (tests/fuzz/fuzz_chain.h), one per payload family.
  {
    using namespace ertr::ledger;
    std::array<std::uint8_t, 16> p{};
    p.fill(4);
    const Pseudonym patient(p);
    std::array<std::uint8_t, 16> r{};
    r.fill(9);
    const RecordId record(r);
    crypto::Digest digest(std::array<std::uint8_t, 32>{1, 2, 3});
    SubmitRecord submit{record,
                        patient,
                        RecordKind::kRtBeamsTreatmentRecord,
                        digest,
                        4096,
                        BlobLocator{digest, {"hosp-a"}},
                        "hosp-a",
                        {KeyEnvelope{"hosp-a", SealedKey()}}};
    GrantConsent grant{GrantId(r), patient, GranteeRole{"hosp-a", Role::kTherapist},
                       ScopeKinds{{RecordKind::kRtPlan}}, 9'000'000};
    const std::pair<std::string, std::pair<std::uint8_t, Payload>> seeds[] = {
        {"register_user", {1, RegisterUser{"hosp-a", fuzz::Key(8), Role::kPhysicist, "md-2"}}},
        {"submit_record", {3, submit}},
        {"grant_consent", {5, grant}},
        {"break_glass", {3, BreakGlass{patient, "emergency", 600'000}}},
        {"record_access",
         {2, RecordAccess{{AccessEvent{record, fuzz::Key(3), "hosp-a", AccessOutcome::kDenied,
                                       "care", 7, "no_consent"}}}}},
        {"erase_record", {5, EraseRecord{record, "request"}}},
    };
    for (const auto& [name, seed] : seeds) {
      TransactionHeader h;
      h.chain_id = "ertr-fuzz";
      h.nonce = 100;
      auto typed = proto::MakeTransaction(h, seed.second, fuzz::NoSigner(fuzz::Key(seed.first)));
      if (!typed) return 1;
      Write(root / "fuzz_ledger_apply", name, proto::EncodeSignedTransaction(typed->signed_tx));
    }
  }
  // Transport: two frames, and a real hello followed by a confirmation-sized tail.
  {
    Bytes frames = net::EncodeFrame(ToBytes("first"));
    Append(frames, net::EncodeFrame(Bytes(300, 7)));
    Write(root / "fuzz_net_frames", "two_frames", frames);
    auto peer = crypto::MakeEd25519Signer(*crypto::SigningKey::FromSeed(Bytes(32, 2)));
    auto self = crypto::MakeEd25519Signer(*crypto::SigningKey::FromSeed(Bytes(32, 1)));
    net::HandshakeInitiator init("ertr-fuzz", *peer, self->public_key());
    Bytes hello = init.Hello();
    Append(hello, Bytes(net::kConfirmSize, 3));
    Write(root / "fuzz_net_frames", "hello_confirm", hello);
  }
  // Peer messages of every kind, a checkpoint proof, and a node config.
  {
    consensus::CheckpointProof cp{Height(64), b.hash, {}};
    cp.checkpoints.push_back({Height(64), b.hash, ReplicaId(1), crypto::Signature()});
    const Bytes proof = proto::EncodeCheckpointProof(cp);
    const proto::PeerMessage messages[] = {
        proto::PeerConsensus{Bytes{1, 2}},
        proto::PeerTransactions{{Bytes{3}}, {Bytes{4, 5}}},
        proto::PeerBlockRequest{Height(5), 8},
        proto::PeerBlockResponse{{Bytes{4}}},
        proto::PeerStatus{Height(9), View(1)},
        proto::PeerBlobHave{{tx.id, b.hash}},
        proto::PeerBlobHave{{tx.id, b.hash}, {300, 70'000}},
        proto::PeerBlobRequest{tx.id, 4096},
        proto::PeerBlobChunk{tx.id, 0, 300, Bytes(300, 5)},
        proto::PeerBlobPush{3, 0, Bytes(300, 6), false, false},
        proto::PeerBlobPush{3, 300, Bytes(20, 6), true, false},
        proto::PeerBlobPush{3, 0, {}, false, true},
        proto::PeerBlobPushAck{3, 320, false},
        proto::PeerStateProofRequest{},
        proto::PeerStateProof{proof},
        proto::PeerStatePageRequest{Height(64), Bytes{7}, 4096},
        proto::PeerStatePage{Height(64), Bytes{7}, {{Bytes{8}, Bytes(40, 9)}}, true, false},
        proto::PeerStatePage{Height(64), {}, {}, false, true}};
    int i = 0;
    for (const auto& m : messages) {
      Write(root / "fuzz_peer_decode", "peer_" + std::to_string(i++), proto::EncodePeerMessage(m));
    }
    Write(root / "fuzz_peer_decode", "checkpoint_proof", proof);
    // The blob exchange: records of [control][u16 length][message] (fuzz_blob_exchange.cc). An
    // upload pushed in two parts from peer 1, with a pull of it by peer 2 and a tick; and a push
    // from peer 3 that is aborted.
    auto record = [](Bytes& out, std::uint8_t control, const proto::PeerMessage& m) {
      const Bytes bytes = proto::EncodePeerMessage(m);
      out.push_back(control);
      out.push_back(static_cast<std::uint8_t>(bytes.size() >> 8));
      out.push_back(static_cast<std::uint8_t>(bytes.size()));
      Append(out, bytes);
    };
    Bytes exchange;
    record(exchange, 0, proto::PeerBlobPush{7, 0, Bytes(600, 1), false, false});
    record(exchange, 0, proto::PeerBlobPush{7, 600, Bytes(400, 2), true, false});
    record(exchange, 2, proto::PeerBlobPush{8, 0, Bytes(100, 3), false, false});
    record(exchange, 2, proto::PeerBlobPush{8, 100, {}, false, true});
    record(exchange, 1, proto::PeerBlobHave{{tx.id}});
    record(exchange, 3, proto::PeerBlobHave{{tx.id}, {300}});
    record(exchange, 5, proto::PeerBlobChunk{tx.id, 0, 300, Bytes(300, 5)});
    record(exchange, 8, proto::PeerBlobPushAck{7, 1000, false});
    Write(root / "fuzz_blob_exchange", "push_pull_abort", exchange);
    // This node's own push: two pieces of data, acknowledgements of them, the last piece.
    auto data = [](Bytes& out, std::uint8_t control, std::size_t n) {
      out.push_back(control);
      out.push_back(static_cast<std::uint8_t>(n >> 8));
      out.push_back(static_cast<std::uint8_t>(n));
      Append(out, Bytes(n, 9));
    };
    Bytes own;
    data(own, 16, 700);
    data(own, 16, 500);
    record(own, 64, proto::PeerBlobPushAck{0, 700, false});
    record(own, 64 | 4, proto::PeerBlobPushAck{0, 1200, false});
    data(own, 16 | 32, 30);
    Write(root / "fuzz_blob_exchange", "own_push", own);
    // The harness's two known blobs: announced (a digest starting 0xaa), one named by a record and
    // pulled whole, the other's chunk sent unasked; a tick to a disk short of space, and the named
    // one's record committing (bit 7).
    Bytes known;
    Bytes aa(32, 0);
    aa[0] = 0xaa;
    const auto stand_in = *crypto::Digest::FromSpan(aa, "seed");
    aa[1] = 1;
    const auto stand_in_other = *crypto::Digest::FromSpan(aa, "seed");
    record(known, 0, proto::PeerBlobHave{{stand_in}});
    record(known, 0, proto::PeerBlobChunk{stand_in, 0, 1, Bytes(1, 0)});
    record(known, 0 | 4, proto::PeerBlobChunk{stand_in_other, 0, 1, Bytes(1, 0)});
    record(known, 4 | 128, proto::PeerBlobHave{{stand_in}});
    record(known, 4, proto::PeerBlobHave{{stand_in}, {1}});
    Write(root / "fuzz_blob_exchange", "known_blobs", known);
    node::NodeConfig c;
    c.institution_id = "hosp-a";
    c.peers = {{ReplicaId(1), "127.0.0.1", 26601}};
    Write(root / "fuzz_peer_decode", "config", ToBytes(node::RenderNodeConfig(c)));
    // The consensus log (ADR 0010): the state entry and one prepared certificate.
    consensus::PersistentState state;
    state.view = View(3);
    state.signed_votes[{View(2), Height(3)}] = prop.digest;
    state.stable_height = Height(0);
    Write(root / "fuzz_peer_decode", "replica_state", proto::EncodeReplicaState(state));
    Write(root / "fuzz_peer_decode", "prepared_certificate",
          proto::EncodePreparedCertificate(vc.prepared.front()));
    Write(root / "fuzz_peer_decode", "member",
          ToBytes("id = \"hosp-b\"\nname = \"Hospital B\"\naddress = \"10.0.0.2:26600\"\n"
                  "validator_key = \"" +
                  key.public_key().ToHex() + "\"\nencryption_key = \"" +
                  crypto::BoxKeyPair::Generate().public_key().ToHex() + "\"\nadmin_key = \"" +
                  key.public_key().ToHex() + "\"\n"));
  }
  // API: authentication headers, a receipt, a synthetic DICOM RT Plan.
  {
    auto signer = crypto::MakeEd25519Signer(key.Clone());
    auto auth = *proto::SignApiRequest(*signer, "ertr-seed", "/ertr.v1.Ertr/GetStatus", 1, {});
    std::string lines;
    for (const char* h : {proto::kHeaderUserKey, proto::kHeaderTimestamp, proto::kHeaderNonce,
                          proto::kHeaderSignature}) {
      lines += proto::ApiAuthHeaders(auth)[h] + "\n";
    }
    Write(root / "fuzz_api", "headers", ToBytes(lines));
    v1::SubmitTransactionRequest submit;
    submit.mutable_transaction()->set_body(std::string(AsStringView(tx.body)));
    submit.mutable_transaction()->set_signature(std::string(AsStringView(tx.signature.span())));
    Write(root / "fuzz_api", "submit_request", ToBytes(submit.SerializeAsString()));
    v1::SubmitTransactionsRequest batch;
    *batch.add_transactions() = submit.transaction();
    *batch.add_transactions() = submit.transaction();
    batch.mutable_transactions(1)->set_signature(std::string(64, '\0'));
    batch.set_wait_for_commit(true);
    Write(root / "fuzz_api", "submit_batch_request", ToBytes(batch.SerializeAsString()));
    v1::UploadRecordRequest upload;
    upload.mutable_start()->set_patient_pseudonym(std::string(16, '\x04'));
    upload.mutable_start()->set_kind(v1::RECORD_KIND_RT_PLAN);
    upload.mutable_start()->set_plaintext_size(4096);
    Write(root / "fuzz_api", "upload_start", ToBytes(upload.SerializeAsString()));
    v1::GetReceiptRequest receipt_request;
    receipt_request.set_record_id(std::string(16, '\x09'));
    Write(root / "fuzz_api", "receipt_request", ToBytes(receipt_request.SerializeAsString()));
    Write(root / "fuzz_api", "receipt",
          *proto::BuildReceipt(proto::EncodeSignedTransaction(tx), 1,
                               {consensus::TransactionLeaf(proto::EncodeSignedTransaction(tx)),
                                consensus::TransactionLeaf(proto::EncodeSignedTransaction(tx))},
                               proto::EncodeBlockHeader(b.header),
                               proto::EncodeCommitCertificate(b.certificate)));
    auto plan = cli::MakeSyntheticRtPlan("SYNTH-SEED", 30, 2.0);
    if (plan) Write(root / "fuzz_api", "synthetic_rtplan.dcm", plan->file);
  }
  std::cout << "seeds written to " << root << "\n";
  return 0;
}
