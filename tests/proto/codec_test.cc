#include <catch2/catch.hpp>

#include "proto/codec.h"
#include "proto/ledger_codec.h"

namespace ertr::proto {
namespace {

constexpr std::string_view kChain = "ertr-test";

// Builds a real signed transaction body with the generated schema's field layout by hand:
// field 1 chain_id, 2 signer, 3 nonce, 21 null_op { 1: payload }.
Bytes NullOpBody(const crypto::PublicKey& signer, std::uint64_t nonce) {
  Bytes b;
  auto put_len = [&b](std::uint8_t tag, ByteSpan v) {
    b.push_back(tag);
    b.push_back(static_cast<std::uint8_t>(v.size()));
    Append(b, v);
  };
  put_len(0x0a, AsBytes(kChain));
  put_len(0x12, signer.span());
  b.push_back(0x18);
  b.push_back(static_cast<std::uint8_t>(nonce));  // nonce < 128: one varint byte
  Bytes inner{0x0a, 8, 1, 2, 3, 4, 5, 6, 7, 8};
  b.push_back(0xaa);  // field 21, wire type 2: (21 << 3) | 2 = 170 = 0xaa 0x01
  b.push_back(0x01);
  b.push_back(static_cast<std::uint8_t>(inner.size()));
  Append(b, inner);
  return b;
}

ledger::SignedTransaction MakeTx(const crypto::SigningKey& key, std::uint64_t nonce) {
  ledger::SignedTransaction tx;
  tx.body = NullOpBody(key.public_key(), nonce);
  tx.signature = *key.Sign(crypto::SigningDomain::kTransaction, kChain, tx.body);
  return tx;
}

TEST_CASE("Signed transactions decode, keep their exact body bytes, and verify", "[unit]") {
  auto key = crypto::SigningKey::Generate();
  auto tx = MakeTx(key, 7);
  Bytes wire = EncodeSignedTransaction(tx);
  auto back = DecodeSignedTransaction(wire);
  REQUIRE(back.has_value());
  CHECK(back->body == tx.body);
  CHECK(back->header.chain_id == kChain);
  CHECK(back->header.signer == key.public_key());
  CHECK(back->header.nonce == 7);
  CHECK(back->header.payload == ledger::PayloadType::kNullOp);
  CHECK(back->id == ledger::TransactionId(tx.body));
  auto verifier = crypto::MakeEd25519Verifier();
  CHECK(ledger::HasValidSignature(*back, *verifier));
  auto forged = *back;
  forged.body.back() ^= 1;
  CHECK_FALSE(ledger::HasValidSignature(forged, *verifier));
  // Authentic: signed by its signer, or (only on a benchmark chain) an unsigned NullOp.
  CHECK(ledger::IsAuthentic(*back, *verifier, false));
  CHECK(ledger::IsAuthentic(*back, *verifier, true));
  auto unsigned_op = *back;
  unsigned_op.signature = crypto::Signature();
  CHECK_FALSE(ledger::IsAuthentic(unsigned_op, *verifier, false));
  CHECK(ledger::IsAuthentic(unsigned_op, *verifier, true));
  auto unsigned_other = unsigned_op;  // any other payload type must be signed, everywhere
  unsigned_other.header.payload = ledger::PayloadType::kRegisterUser;
  CHECK_FALSE(ledger::IsAuthentic(unsigned_other, *verifier, true));
}

TEST_CASE("The envelope scan finds the id the decoder finds", "[unit]") {
  auto key = crypto::SigningKey::Generate();
  auto tx = MakeTx(key, 9);
  Bytes wire = EncodeSignedTransaction(tx);
  auto peeked = PeekTransactionId(wire);
  REQUIRE(peeked.has_value());
  CHECK(*peeked == DecodeSignedTransaction(wire)->id);

  // Like the parser: an unknown field is skipped, a repeated body counts last, and a field 1
  // of another wire type is an unknown field, not the body.
  auto other = MakeTx(key, 10);
  Bytes twice = EncodeSignedTransaction(other);
  Bytes extra{0x08, 0x05, 0xf8, 0x01, 0x2a};  // field 1 as a varint; field 31 as a varint
  Append(twice, extra);
  Append(twice, wire);  // body and signature of tx again: they win
  auto decoded = DecodeSignedTransaction(twice);
  REQUIRE(decoded.has_value());
  CHECK(decoded->id == ledger::TransactionId(tx.body));
  auto peeked_twice = PeekTransactionId(twice);
  REQUIRE(peeked_twice.has_value());
  CHECK(*peeked_twice == decoded->id);

  Bytes cut = wire;
  cut.resize(cut.size() - 10);
  CHECK_FALSE(PeekTransactionId(cut).has_value());
  CHECK_FALSE(PeekTransactionId(ToBytes("\xff\xff\xff garbage")).has_value());
  CHECK_FALSE(PeekTransactionId(Bytes(kMaxTransactionBytes + 1, 0)).has_value());
}

TEST_CASE("Decoding with a known id skips only the hash", "[unit]") {
  auto key = crypto::SigningKey::Generate();
  Bytes wire = EncodeSignedTransaction(MakeTx(key, 11));
  auto plain = DecodeTransaction(wire);
  REQUIRE(plain.has_value());
  auto quick = DecodeTransaction(wire, *PeekTransactionId(wire));
  REQUIRE(quick.has_value());
  CHECK(quick->signed_tx.id == plain->signed_tx.id);
  CHECK(quick->signed_tx.body == plain->signed_tx.body);
  CHECK(quick->signed_tx.header.signer == plain->signed_tx.header.signer);
  CHECK(quick->signed_tx.header.nonce == 11);
  REQUIRE(quick->payload.has_value());
  CHECK(std::holds_alternative<ledger::NullOp>(*quick->payload));
  // The id is the caller's to get right (it is never taken from a peer): it is used as given.
  const crypto::Digest other = crypto::Hash(AsBytes("not this transaction"));
  CHECK(DecodeTransaction(wire, other)->signed_tx.id == other);
  // Everything else is still checked.
  Bytes cut = wire;
  cut.resize(cut.size() - 10);
  CHECK_FALSE(DecodeTransaction(cut, plain->signed_tx.id).has_value());
}

TEST_CASE("Malformed transactions are refused with the field named", "[unit]") {
  auto key = crypto::SigningKey::Generate();
  auto tx = MakeTx(key, 1);
  tx.signature = crypto::Signature();
  Bytes wire = EncodeSignedTransaction(tx);
  wire.resize(wire.size() - 10);  // cut into the signature
  CHECK_FALSE(DecodeSignedTransaction(wire).has_value());

  ledger::SignedTransaction no_payload;
  no_payload.body = {0x0a, 1, 'c', 0x12, 32};
  no_payload.body.resize(no_payload.body.size() + 32, 0x11);
  auto r = DecodeSignedTransaction(EncodeSignedTransaction(no_payload));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message().find("payload") != std::string::npos);

  ledger::SignedTransaction short_key;
  short_key.body = {0x0a, 1, 'c', 0x12, 3, 1, 2, 3};
  auto r2 = DecodeSignedTransaction(EncodeSignedTransaction(short_key));
  REQUIRE_FALSE(r2.has_value());
  CHECK(r2.error().message().find("transaction.signer") != std::string::npos);

  CHECK_FALSE(DecodeSignedTransaction(Bytes(kMaxTransactionBytes + 1, 0)).has_value());
  CHECK_FALSE(DecodeSignedTransaction(ToBytes("\xff\xff\xff garbage")).has_value());
}

Block MakeBlock(const crypto::SigningKey& key, std::size_t n) {
  Block b;
  for (std::size_t i = 0; i < n; ++i) {
    auto tx = MakeTx(key, i);
    tx.id = ledger::TransactionId(tx.body);
    b.transactions.push_back(tx);
  }
  b.header.chain_id = kChain;
  b.header.height = Height(12);
  b.header.tx_root = TransactionRoot(b.transactions);
  b.header.time_ms = 1'790'000'000'000;
  b.header.proposer = ReplicaId(2);
  b.header.tx_count = static_cast<std::uint32_t>(n);
  b.hash = consensus::ProposalDigest(b.header);
  b.state_root = crypto::Hash(AsBytes("state"));
  b.certificate.height = b.header.height;
  b.certificate.view = View(5);
  b.certificate.block_hash = b.hash;
  b.certificate.votes.push_back({ReplicaId(0), crypto::Signature()});
  return b;
}

TEST_CASE("Blocks round-trip and their hash is the canonical header digest", "[unit]") {
  auto key = crypto::SigningKey::Generate();
  Block b = MakeBlock(key, 5);
  auto back = DecodeBlock(EncodeBlock(b));
  REQUIRE(back.has_value());
  CHECK(back->hash == b.hash);
  CHECK(back->header == b.header);
  CHECK(back->state_root == b.state_root);
  CHECK(consensus::ProposalDigest(*DecodeBlockHeader(EncodeBlockHeader(b.header))) == b.hash);
  CHECK(back->header.height == Height(12));
  CHECK(back->header.proposer == ReplicaId(2));
  CHECK(back->header.time_ms == b.header.time_ms);
  REQUIRE(back->transactions.size() == 5);
  CHECK(back->transactions[3].id == b.transactions[3].id);
  CHECK(back->certificate.votes.size() == 1);
}

TEST_CASE("Blocks built from encoded parts equal blocks encoded whole, and keep the bytes",
          "[unit]") {
  auto key = crypto::SigningKey::Generate();
  for (std::size_t n : {0u, 1u, 7u}) {
    Block b = MakeBlock(key, n);
    b.state_root = crypto::Digest();  // as served: the receiver re-executes
    std::vector<consensus::Transaction> encoded;
    for (const auto& tx : b.transactions) encoded.push_back({tx.id, EncodeSignedTransaction(tx)});
    const Bytes body = EncodeBlockBody(encoded);
    CHECK(body == EncodeBlockBody(b.transactions));
    const Bytes whole =
        EncodeBlock(EncodeBlockHeader(b.header), body, EncodeCommitCertificate(b.certificate));
    CHECK(whole == EncodeBlock(b));
    auto back = DecodeBlock(whole);
    REQUIRE(back.has_value());
    CHECK(back->hash == b.hash);
    REQUIRE(back->transaction_bytes.size() == n);
    for (std::size_t i = 0; i < n; ++i) CHECK(back->transaction_bytes[i] == encoded[i].bytes);
  }
  // Bytes that are not canonical (an unknown field after the signature) go into the body as they
  // came, and come back the same.
  auto tx = MakeTx(key, 1);
  tx.id = ledger::TransactionId(tx.body);
  Bytes odd = EncodeSignedTransaction(tx);
  for (std::uint8_t x : {0x78, 0x01}) odd.push_back(x);  // field 15, varint 1
  auto body = DecodeBlockBody(EncodeBlockBody(std::vector<consensus::Transaction>{{tx.id, odd}}));
  REQUIRE(body.has_value());
  REQUIRE(body->size() == 1);
  CHECK((*body)[0].id == tx.id);
}

TEST_CASE(
    "Only canonical transaction bytes are admitted: nothing the rules do not read gets on chain",
    "[unit]") {
  auto key = crypto::SigningKey::Generate();
  auto tx = MakeTx(key, 3);
  const Bytes good = EncodeSignedTransaction(tx);
  REQUIRE(DecodeTransactionToAdmit(good, nullptr).has_value());
  const auto refused = [&](const Bytes& bytes, std::string_view part) {
    auto r = DecodeTransactionToAdmit(bytes, nullptr);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message().find(std::string(part) + " is not in canonical form") !=
          std::string::npos);
    // With the id the envelope scan finds (a proposal's copy) too; the plain decoder (execution,
    // reads) still takes it.
    auto id = PeekTransactionId(bytes);
    REQUIRE(id.has_value());
    CHECK_FALSE(DecodeTransactionToAdmit(bytes, &*id).has_value());
    CHECK(DecodeTransaction(bytes).has_value());
  };
  const auto with_body = [&](Bytes body) {
    ledger::SignedTransaction t;
    t.body = std::move(body);
    t.signature = *key.Sign(crypto::SigningDomain::kTransaction, kChain, t.body);
    return EncodeSignedTransaction(t);
  };
  const std::string name = "DOE^JOHN";
  SECTION("an unknown field in the body, signed with it") {
    Bytes body = tx.body;
    body.push_back(0xc2);  // field 1000, length-delimited: (1000 << 3) | 2 = 8002
    body.push_back(0x3e);
    body.push_back(static_cast<std::uint8_t>(name.size()));
    Append(body, AsBytes(name));
    refused(with_body(body), "transaction body");
  }
  SECTION("an unknown field inside the payload") {
    // The body ends with the null_op field: tag (2 bytes), length, then its 10 bytes.
    Bytes body = tx.body;
    body[body.size() - 11] = static_cast<std::uint8_t>(10 + 2 + name.size());
    body.push_back(0x12);  // NullOp field 2, length-delimited
    body.push_back(static_cast<std::uint8_t>(name.size()));
    Append(body, AsBytes(name));
    refused(with_body(body), "transaction body");
  }
  SECTION("a defined field with another wire type (the parser keeps it as an unknown field)") {
    Bytes body = tx.body;
    for (std::uint8_t x : {0x60, 0x01}) body.push_back(x);  // field 12 (a message) as a varint
    refused(with_body(body), "transaction body");
  }
  SECTION("a field twice: the parser keeps the last, the first would ride along") {
    Bytes body;
    body.push_back(0x0a);
    body.push_back(static_cast<std::uint8_t>(name.size()));
    Append(body, AsBytes(name));
    Append(body, tx.body);  // chain_id again, then the rest
    refused(with_body(body), "transaction body");
  }
  SECTION("fields out of order, or a default value written out") {
    const Bytes& body = tx.body;
    Bytes swapped(body.begin() + 2 + static_cast<std::ptrdiff_t>(kChain.size()), body.end());
    Append(swapped, ByteSpan(body.data(), 2 + kChain.size()));  // chain_id last
    refused(with_body(swapped), "transaction body");
    Bytes with_zero(body.begin(), body.end() - 13);  // before the null_op field
    Append(with_zero, Bytes{0x20, 0x00});            // valid_until_height = 0, written out
    Append(with_zero, ByteSpan(body.data() + body.size() - 13, 13));
    refused(with_body(with_zero), "transaction body");
  }
  SECTION("an unknown field on the envelope, outside the signed body") {
    Bytes bytes = good;
    for (std::uint8_t x : {0x1a, 0x02, 0x68, 0x69}) bytes.push_back(x);  // field 3, "hi"
    refused(bytes, "signed transaction");
  }
  SECTION("the envelope's fields swapped, or its body twice") {
    Bytes swapped = EncodeSignedTransaction(tx);
    const std::size_t sig_at = swapped.size() - 66;
    Bytes reordered(swapped.begin() + static_cast<std::ptrdiff_t>(sig_at), swapped.end());
    Append(reordered, ByteSpan(swapped.data(), sig_at));
    refused(reordered, "signed transaction");
    Bytes twice = EncodeSignedTransaction(MakeTx(key, 4));
    Append(twice, good);
    refused(twice, "signed transaction");
  }
}

TEST_CASE("Blocks whose parts disagree are refused", "[unit]") {
  auto key = crypto::SigningKey::Generate();
  SECTION("tx_count") {
    Block b = MakeBlock(key, 3);
    b.transactions.pop_back();
    b.header.tx_root = TransactionRoot(b.transactions);
    b.certificate.block_hash = consensus::ProposalDigest(b.header);
    auto r = DecodeBlock(EncodeBlock(b));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message().find("transactions") != std::string::npos);
  }
  SECTION("tx_root") {
    Block b = MakeBlock(key, 3);
    std::swap(b.transactions[0], b.transactions[1]);
    auto r = DecodeBlock(EncodeBlock(b));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message().find("tx_root") != std::string::npos);
  }
  SECTION("a signature changed: tx_root covers every byte of a transaction (ADR 0038)") {
    Block b = MakeBlock(key, 3);
    auto sig = b.transactions[1].signature.array();
    sig[7] ^= 0x01;
    b.transactions[1].signature = crypto::Signature(sig);
    auto r = DecodeBlock(EncodeBlock(b));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message().find("tx_root") != std::string::npos);
  }
  SECTION("the body's bytes are what tx_root covers, not their decoded form") {
    // The same transactions with a byte the decoder skips (an unknown field): another leaf.
    Block b = MakeBlock(key, 1);
    Bytes padded = EncodeSignedTransaction(b.transactions[0]);
    padded.insert(padded.end(), {0xa0, 0x06, 0x00});  // field 100, varint 0
    consensus::Transaction ct{b.transactions[0].id, padded};
    const Bytes encoded = EncodeBlock(EncodeBlockHeader(b.header), EncodeBlockBody(std::vector{ct}),
                                      EncodeCommitCertificate(b.certificate));
    auto r = DecodeBlock(encoded);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message().find("tx_root") != std::string::npos);
  }
  SECTION("certificate for another block") {
    Block b = MakeBlock(key, 1);
    b.certificate.block_hash = crypto::Hash(AsBytes("other"));
    auto r = DecodeBlock(EncodeBlock(b));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message().find("another block") != std::string::npos);
  }
  SECTION("height zero") {
    Block b = MakeBlock(key, 1);
    b.header.height = Height(0);
    CHECK_FALSE(DecodeBlockHeader(EncodeBlockHeader(b.header)).has_value());
  }
}

}  // namespace
}  // namespace ertr::proto
