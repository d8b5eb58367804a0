#include <catch2/catch.hpp>

#include <sodium.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "crypto/key_file.h"
#include "crypto/passphrase.h"
#include "tests/support/temp_dir.h"

namespace ertr::crypto {
namespace {

TEST_CASE("Argon2id matches the reference implementation (argon2 CLI)", "[unit]") {
  // `echo -n password | argon2 somesaltsomesalt -id -t 2 -k 65536 -p 1 -l 32 -r`
  std::array<std::uint8_t, 32> out{};
  REQUIRE(crypto_pwhash(out.data(), out.size(), "password", 8,
                        reinterpret_cast<const unsigned char*>("somesaltsomesalt"), 2, 65536 * 1024,
                        crypto_pwhash_ALG_ARGON2ID13) == 0);
  CHECK(ToHex(out) == "fc33b78139231d34b71626bd6245c1d72efa190ad605c3d8166a72adcedfa2c2");
  // `echo -n "ertr test passphrase" | argon2 0123456789abcdef -id -t 1 -k 8 -p 1 -l 32 -r`
  REQUIRE(crypto_pwhash(out.data(), out.size(), "ertr test passphrase", 20,
                        reinterpret_cast<const unsigned char*>("0123456789abcdef"), 1, 8 * 1024,
                        crypto_pwhash_ALG_ARGON2ID13) == 0);
  CHECK(ToHex(out) == "6f01323bd3fe97d6e6cfeaaf93466338f33bdb87418f194f58d596c7f825b0d3");
}

TEST_CASE("Signing and box keys round-trip through key files", "[unit]") {
  auto sk = SigningKey::Generate();
  PublicKey pub = sk.public_key();
  auto file = EncodeKeyFile(std::move(sk), "correct horse", KdfCost::Minimum());
  REQUIRE(file.has_value());
  auto info = InspectKeyFile(*file);
  REQUIRE(info.has_value());
  CHECK(info->type == KeyType::kEd25519);
  CHECK(info->public_key == pub.ToBytes());
  auto back = DecodeSigningKeyFile(*file, "correct horse");
  REQUIRE(back.has_value());
  CHECK(back->public_key() == pub);
  auto wrong_type = DecodeBoxKeyFile(*file, "correct horse");
  REQUIRE_FALSE(wrong_type.has_value());
  CHECK(wrong_type.error().message().find("Ed25519") != std::string::npos);

  auto bk = BoxKeyPair::Generate();
  BoxPublicKey bpub = bk.public_key();
  auto bfile = EncodeKeyFile(std::move(bk), "pw", KdfCost::Minimum());
  REQUIRE(bfile.has_value());
  auto bback = DecodeBoxKeyFile(*bfile, "pw");
  REQUIRE(bback.has_value());
  CHECK(bback->public_key() == bpub);
}

TEST_CASE("A wrong passphrase gives a clear Unauthenticated error", "[unit]") {
  auto file = EncodeKeyFile(SigningKey::Generate(), "right", KdfCost::Minimum());
  REQUIRE(file.has_value());
  auto r = DecodeKeyFile(*file, "wrong");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == StatusCode::kUnauthenticated);
  CHECK(r.error().message().find("wrong passphrase") != std::string::npos);
  CHECK_FALSE(EncodeKeyFile(SigningKey::Generate(), "", KdfCost::Minimum()).has_value());
}

TEST_CASE("Flipping any byte of a key file is detected", "[unit]") {
  auto file = EncodeKeyFile(SigningKey::Generate(), "pw", KdfCost::Minimum());
  REQUIRE(file.has_value());
  for (std::size_t i = 0; i < file->size(); ++i) {
    Bytes bad = *file;
    bad[i] ^= 0x01;
    auto r = DecodeKeyFile(bad, "pw");
    INFO("flipped byte " << i);
    CHECK_FALSE(r.has_value());
  }
  // memlimit 8192 -> 8193 derives the same key (Argon2 rounds to KiB): the authenticated copy of
  // the header inside the box still catches it.
  Bytes bad = *file;
  bad[18] ^= 0x01;
  auto r = DecodeKeyFile(bad, "pw");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == StatusCode::kUnauthenticated);
}

TEST_CASE("Malformed key files name the bad field", "[unit]") {
  auto file = EncodeKeyFile(SigningKey::Generate(), "pw", KdfCost::Minimum());
  REQUIRE(file.has_value());
  auto r = InspectKeyFile(ByteSpan(*file).first(20));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message().find("memlimit") != std::string::npos);
  Bytes huge = *file;
  huge[17] = 0x7f;  // opslimit far out of range
  auto h = InspectKeyFile(huge);
  REQUIRE_FALSE(h.has_value());
  CHECK(h.error().message().find("opslimit") != std::string::npos);
  auto junk = InspectKeyFile(AsBytes("-----BEGIN PRIVATE KEY-----"));
  REQUIRE_FALSE(junk.has_value());
  CHECK(junk.error().message().find("not an ertrchain key file") != std::string::npos);
}

TEST_CASE("Key files are written 0600 and never overwritten by accident", "[unit]") {
  testing::TempDir dir;
  auto path = dir / "node.key";
  REQUIRE(SaveKeyFile(path, SigningKey::Generate(), "pw", KdfCost::Minimum()).ok());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto again = SaveKeyFile(path, SigningKey::Generate(), "pw", KdfCost::Minimum());
  CHECK(again.code() == StatusCode::kAlreadyExists);
  auto bytes = ReadKeyFileBytes(path);
  REQUIRE(bytes.has_value());
  CHECK(DecodeSigningKeyFile(*bytes, "pw").has_value());
  CHECK(ReadKeyFileBytes(dir / "missing.key").error().code() == StatusCode::kNotFound);
}

TEST_CASE("A key file is never written through a left-over or planted temporary file", "[unit]") {
  // Found by an outside security review: the temporary file was opened with O_TRUNC, so an
  // existing one kept its mode (readable by others, say) and a symbolic link was followed.
  testing::TempDir dir;
  auto path = dir / "node.key";
  auto tmp = path;
  tmp += ".tmp";
  const auto target = dir / "elsewhere";
  { std::ofstream(target) << "not a key"; }
  std::filesystem::create_symlink(target, tmp);
  REQUIRE(SaveKeyFile(path, SigningKey::Generate(), "pw", KdfCost::Minimum()).ok());
  std::ifstream in(target);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text == "not a key");  // the link was removed, not followed
  CHECK_FALSE(std::filesystem::exists(tmp));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(DecodeSigningKeyFile(*ReadKeyFileBytes(path), "pw").has_value());
}

TEST_CASE("A passphrase is the first line of its file, or the environment variable", "[unit]") {
  testing::TempDir dir;
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream((dir / name).string(), std::ios::binary) << text;
    return (dir / name).string();
  };
  const auto read = [](const std::string& file, const std::string& env) {
    auto r = ReadPassphrase(file, env);
    return r ? std::string(reinterpret_cast<const char*>(r->data()), r->size())
             : "error: " + r.error().message();
  };
  CHECK(read(write("crlf", "s3cret pass\r\nsecond line\n"), "") == "s3cret pass");
  CHECK(read(write("bare", "no newline at all"), "") == "no newline at all");
  CHECK(read(write("empty", "\nnext"), "").find("the passphrase is empty") != std::string::npos);
  CHECK(read(write("long", std::string(5000, 'x')), "").find("longer than 4096") !=
        std::string::npos);
  CHECK(read(write("long-then-short", std::string(100, 'y') + "\n" + std::string(9000, 'z')), "") ==
        std::string(100, 'y'));
  CHECK(read((dir / "missing").string(), "").find("cannot read passphrase file") !=
        std::string::npos);
  ::setenv("ERTR_TEST_PASSPHRASE", "from the environment", 1);
  CHECK(read("", "ERTR_TEST_PASSPHRASE") == "from the environment");
  ::unsetenv("ERTR_TEST_PASSPHRASE");
  CHECK(read("", "ERTR_TEST_PASSPHRASE").find("no passphrase") != std::string::npos);
}

}  // namespace
}  // namespace ertr::crypto
