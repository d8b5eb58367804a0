#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
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

TEST_CASE("frame reader reads in place: sized reads, views, large frames between small ones",
          "[unit][net]") {
  // Frames of 1 B .. 3 MiB (over the buffer the reader keeps), each filled with its index.
  const std::vector<std::size_t> sizes = {1, 5000, 3u << 20, 7, (1u << 20) + 60, 2, 70000};
  Bytes stream;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    Append(stream, EncodeFrame(Bytes(sizes[i], static_cast<std::uint8_t>(i + 1))));
  }
  for (std::size_t read_cap :
       {std::size_t{7}, std::size_t{4096}, std::size_t{65536}, stream.size()}) {
    FrameReader reader;
    CHECK(reader.missing() == kFrameHeaderSize);
    std::size_t pos = 0;
    std::size_t frames = 0;
    while (pos < stream.size()) {
      // As the transport reads: room for the rest of the frame, filled by at most read_cap bytes.
      auto area = reader.ReadArea(std::max<std::size_t>(1, reader.missing()));
      REQUIRE(area.size() >= reader.missing());
      const std::size_t n = std::min({area.size(), read_cap, stream.size() - pos});
      std::memcpy(area.data(), stream.data() + pos, n);
      reader.Commit(n);
      pos += n;
      while (true) {
        auto f = reader.NextView();
        REQUIRE(f.has_value());
        if (!*f) break;
        REQUIRE(frames < sizes.size());
        CHECK((*f)->size() == sizes[frames]);
        const auto expected = static_cast<std::uint8_t>(frames + 1);
        CHECK(
            std::all_of((*f)->begin(), (*f)->end(), [&](std::uint8_t b) { return b == expected; }));
        ++frames;
      }
      if (frames < sizes.size()) CHECK(reader.missing() > 0);
    }
    CHECK(frames == sizes.size());
    CHECK(reader.buffered() == 0);
    CHECK(reader.missing() == kFrameHeaderSize);
  }
  // A frame header announcing 10 bytes, 4 of them received: 6 missing.
  FrameReader partial;
  partial.Feed(Bytes{0, 0, 0, 10, 1, 2, 3, 4});
  CHECK(partial.missing() == 6);
  auto none = partial.NextView();
  REQUIRE(none.has_value());
  CHECK_FALSE(none->has_value());
}

}  // namespace
}  // namespace ertr::net
