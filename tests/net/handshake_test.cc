#include <catch2/catch.hpp>

#include <set>

#include "net/frame.h"
#include "net/handshake.h"

namespace ertr::net {
namespace {

struct Node {
  std::unique_ptr<crypto::Signer> signer =
      crypto::MakeEd25519Signer(crypto::SigningKey::Generate());
  const crypto::PublicKey& id() const { return signer->public_key(); }
};

struct Pair {
  Node i, r, outsider;
  std::set<crypto::PublicKey> members{i.id(), r.id()};
  std::function<bool(const crypto::PublicKey&)> is_member = [this](const crypto::PublicKey& k) {
    return members.count(k) > 0;
  };
};

TEST_CASE("handshake establishes matching session keys between members", "[unit][net]") {
  Pair p;
  HandshakeInitiator init("ertr-test", *p.i.signer, p.r.id());
  HandshakeResponder resp("ertr-test", *p.r.signer, p.is_member);
  auto hello = init.Hello();
  CHECK(hello.size() == kHelloSize);
  auto reply = resp.OnHello(hello);
  REQUIRE(reply.has_value());
  CHECK(reply->size() == kReplySize);
  auto confirm = init.OnReply(*reply);
  REQUIRE(confirm.has_value());
  CHECK(confirm->size() == kConfirmSize);
  auto at_r = resp.OnConfirm(*confirm);
  REQUIRE(at_r.has_value());
  auto at_i = init.Finish();
  REQUIRE(at_i.has_value());
  CHECK(at_r->peer == p.i.id());
  CHECK(at_i->peer == p.r.id());

  crypto::FrameSealer i_out(std::move(at_i->keys.send));
  crypto::FrameOpener r_in(std::move(at_r->keys.receive));
  auto frame = i_out.Seal(AsBytes("consensus message"));
  auto opened = r_in.Open(*frame);
  REQUIRE(opened.has_value());
  CHECK(AsStringView(*opened) == "consensus message");
}

TEST_CASE("handshake refuses non-members, impostors, other chains and tampering", "[unit][net]") {
  Pair p;
  SECTION("an initiator whose key is not in the validator set") {
    HandshakeInitiator init("ertr-test", *p.outsider.signer, p.r.id());
    HandshakeResponder resp("ertr-test", *p.r.signer, p.is_member);
    auto reply = resp.OnHello(init.Hello());
    auto confirm = init.OnReply(*reply);
    REQUIRE(confirm.has_value());
    auto r = resp.OnConfirm(*confirm);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == StatusCode::kPermissionDenied);
  }
  SECTION("a responder that is not the validator dialed") {
    HandshakeInitiator init("ertr-test", *p.i.signer, p.r.id());
    HandshakeResponder impostor("ertr-test", *p.outsider.signer, p.is_member);
    auto r = init.OnReply(*impostor.OnHello(init.Hello()));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == StatusCode::kUnauthenticated);
  }
  SECTION("a responder that swaps in its own ephemeral key (man in the middle)") {
    HandshakeInitiator init("ertr-test", *p.i.signer, p.r.id());
    HandshakeResponder resp("ertr-test", *p.r.signer, p.is_member);
    auto reply = *resp.OnHello(init.Hello());
    auto mitm = crypto::BoxKeyPair::Generate();
    std::copy(mitm.public_key().span().begin(), mitm.public_key().span().end(), reply.begin());
    auto r = init.OnReply(reply);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == StatusCode::kUnauthenticated);
  }
  SECTION("a tampered confirmation") {
    HandshakeInitiator init("ertr-test", *p.i.signer, p.r.id());
    HandshakeResponder resp("ertr-test", *p.r.signer, p.is_member);
    auto confirm = *init.OnReply(*resp.OnHello(init.Hello()));
    confirm[40] ^= 0x01;
    CHECK(resp.OnConfirm(confirm).error().code() == StatusCode::kUnauthenticated);
  }
  SECTION("a replayed confirmation against a new session") {
    HandshakeInitiator init("ertr-test", *p.i.signer, p.r.id());
    HandshakeResponder resp1("ertr-test", *p.r.signer, p.is_member);
    auto hello = init.Hello();
    auto confirm = *init.OnReply(*resp1.OnHello(hello));
    HandshakeResponder resp2("ertr-test", *p.r.signer, p.is_member);
    REQUIRE(resp2.OnHello(hello).has_value());  // a replayed hello gets a fresh ephemeral
    CHECK(resp2.OnConfirm(confirm).error().code() == StatusCode::kUnauthenticated);
  }
  SECTION("a node reflecting a responder's signature as its confirmation") {
    HandshakeInitiator init("ertr-test", *p.i.signer, p.r.id());
    HandshakeResponder resp("ertr-test", *p.r.signer, p.is_member);
    auto reply = *resp.OnHello(init.Hello());
    Bytes reflected(reply.begin() + 32, reply.end());  // id_R || sig_R
    CHECK_FALSE(resp.OnConfirm(reflected).has_value());
  }
  SECTION("another chain or version") {
    HandshakeInitiator init("ertr-other", *p.i.signer, p.r.id());
    HandshakeResponder resp("ertr-test", *p.r.signer, p.is_member);
    auto r = resp.OnHello(init.Hello());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message().find("another chain") != std::string::npos);
    HandshakeInitiator init2("ertr-test", *p.i.signer, p.r.id());
    auto hello = init2.Hello();
    hello[8] = 9;
    HandshakeResponder resp2("ertr-test", *p.r.signer, p.is_member);
    CHECK(resp2.OnHello(hello).error().message().find("version 9") != std::string::npos);
  }
  SECTION("garbage and wrong lengths") {
    HandshakeResponder resp("ertr-test", *p.r.signer, p.is_member);
    CHECK_FALSE(resp.OnHello(AsBytes("GET / HTTP/1.1\r\n")).has_value());
    HandshakeInitiator init("ertr-test", *p.i.signer, p.r.id());
    init.Hello();
    CHECK_FALSE(init.OnReply(Bytes(kReplySize - 1)).has_value());
  }
}

TEST_CASE("frame reader reassembles frames from any split and refuses oversize", "[unit][net]") {
  Bytes stream;
  for (int i = 1; i <= 50; ++i)
    Append(stream,
           EncodeFrame(Bytes(static_cast<std::size_t>(i * 37), static_cast<std::uint8_t>(i))));
  for (std::size_t chunk : {1u, 3u, 64u, 1000u, 100000u}) {
    FrameReader reader;
    int frames = 0;
    for (std::size_t pos = 0; pos < stream.size(); pos += chunk) {
      reader.Feed(ByteSpan(stream).subspan(pos, std::min(chunk, stream.size() - pos)));
      while (true) {
        auto f = reader.Next();
        REQUIRE(f.has_value());
        if (!*f) break;
        ++frames;
        CHECK((*f)->size() == static_cast<std::size_t>(frames * 37));
        CHECK((*f)->front() == frames);
      }
    }
    CHECK(frames == 50);
    CHECK(reader.buffered() == 0);
  }
  FrameReader small(100);
  small.Feed(Bytes{0, 0, 0, 101});
  auto r = small.Next();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message().find("101 bytes") != std::string::npos);
  FrameReader zero;
  zero.Feed(Bytes{0, 0, 0, 0});
  CHECK_FALSE(zero.Next().has_value());
}

}  // namespace
}  // namespace ertr::net
