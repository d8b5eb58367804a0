#include <catch2/catch.hpp>

#include "cli/api_client.h"
#include "crypto/secure_buffer.h"
#include "proto/ledger_codec.h"

namespace ertr::cli {
namespace {

template <typename Id>
Id RandomId() {
  std::array<std::uint8_t, Id::kSize> a{};
  crypto::RandomBytes(a);
  return Id(a);
}

// What an honest node answers to an upload, and what it was asked for.
struct Prepared {
  crypto::PublicKey key = RandomId<crypto::PublicKey>();
  ledger::Pseudonym patient = RandomId<ledger::Pseudonym>();
  ledger::RecordKind kind = ledger::RecordKind::kRtBeamsTreatmentRecord;
  crypto::Digest plaintext_digest = RandomId<crypto::Digest>();
  ledger::TransactionHeader header;
  ledger::SubmitRecord record;
  v1::UploadRecordResponse response;

  Prepared() {
    header.chain_id = "ertr-test";
    header.signer = key;
    header.nonce = 7;
    header.valid_until_height = 120;
    record.record_id = RandomId<ledger::RecordId>();
    record.patient = patient;
    record.kind = kind;
    record.ciphertext_digest = RandomId<crypto::Digest>();
    record.ciphertext_size = 2089;
    record.locator.content_digest = record.ciphertext_digest;
    record.locator.holder_institutions = {"radonc-north"};
    record.uploader_institution_id = "radonc-north";
    for (const char* inst : {"radonc-north", "radonc-south"}) {
      record.envelopes.push_back({inst, RandomId<ledger::SealedKey>()});
    }
    Answer(proto::EncodeTransactionBody(header, record));
  }
  void Answer(const Bytes& body) {
    response.set_record_id(std::string(AsStringView(record.record_id.span())));
    response.set_ciphertext_digest(std::string(AsStringView(record.ciphertext_digest.span())));
    response.set_ciphertext_size(record.ciphertext_size);
    response.set_transaction_body(std::string(AsStringView(body)));
    response.clear_envelope_institutions();
    response.add_envelope_institutions("radonc-south");
    response.add_envelope_institutions("radonc-north");
    response.set_valid_until_height(header.valid_until_height);
    response.set_plaintext_size(2048);
    response.set_plaintext_digest(std::string(AsStringView(plaintext_digest.span())));
  }
  Status Check() const {
    return CheckPreparedRecord(response, {patient, kind, 2048, plaintext_digest}, "ertr-test", key);
  }
};

TEST_CASE("ertrctl signs the node's prepared record only if it is the one uploaded",
          "[unit][cli]") {
  Prepared p;
  REQUIRE(p.Check().ok());
  std::string expect;
  SECTION("another payload: the signer's own deactivation, say") {
    p.Answer(proto::EncodeTransactionBody(p.header, ledger::DeactivateUser{p.key, "left"}));
    expect = "not a SubmitRecord";
  }
  SECTION("another patient") {
    p.record.patient = RandomId<ledger::Pseudonym>();
    p.Answer(proto::EncodeTransactionBody(p.header, p.record));
    expect = "patient";
  }
  SECTION("another signer or chain") {
    p.header.signer = RandomId<crypto::PublicKey>();
    p.header.chain_id = "ertr-other";
    p.Answer(proto::EncodeTransactionBody(p.header, p.record));
    expect = "signer is not this key";
  }
  SECTION("an extra key envelope, for an institution the response does not name") {
    p.record.envelopes.push_back({"radonc-east", RandomId<ledger::SealedKey>()});
    p.Answer(proto::EncodeTransactionBody(p.header, p.record));
    expect = "key envelopes";
  }
  SECTION("another kind, ciphertext or validity") {
    p.record.kind = ledger::RecordKind::kRtPlan;
    p.record.ciphertext_size += 1;
    p.header.valid_until_height += 1000;
    p.Answer(proto::EncodeTransactionBody(p.header, p.record));
    expect = "kind";
  }
  SECTION("no deadline: it could be submitted after a retry elsewhere made a second record") {
    p.header.valid_until_height = 0;
    p.Answer(proto::EncodeTransactionBody(p.header, p.record));
    expect = "no deadline";
  }
  SECTION("the node reports another plaintext than the one sent") {
    p.response.set_plaintext_size(2047);
    expect = "another plaintext";
  }
  SECTION("bytes the chain code would not read") {
    Bytes body = proto::EncodeTransactionBody(p.header, p.record);
    for (std::uint8_t x : {0xc2, 0x3e, 0x01, 0x58}) body.push_back(x);  // field 1000: "X"
    p.Answer(body);
    expect = "canonical";
  }
  const Status s = p.Check();
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find(expect) != std::string::npos);
  CHECK(s.message().find("nothing was signed") != std::string::npos);
}

}  // namespace
}  // namespace ertr::cli
