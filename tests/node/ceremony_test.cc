#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "node/ceremony.h"
#include "node/config.h"
#include "node/testnet.h"
#include "proto/ledger_codec.h"
#include "tests/support/temp_dir.h"

namespace ertr::node {
namespace {

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_CASE("init and genesis make a network from the members' public halves", "[unit][node]") {
  testing::TempDir dir;
  std::ofstream(dir / "pass") << "correct horse battery staple\n";
  std::ostringstream out;
  for (const char* id : {"hosp-a", "hosp-b"}) {
    InitOptions o;
    o.home = dir / id;
    o.institution_id = id;
    o.name = std::string("Radiation Oncology ") + id;
    o.listen = "127.0.0.1:26600";
    o.passphrase_file = dir / "pass";
    auto s = InitNode(o, out);
    INFO(s.ToString());
    REQUIRE(s.ok());
    // Keys are never overwritten.
    CHECK(InitNode(o, out).code() == StatusCode::kAlreadyExists);
  }
  auto config = LoadNodeConfig(dir / "hosp-b");
  REQUIRE(config.has_value());
  CHECK(config->institution_id == "hosp-b");

  GenesisOptions g;
  g.chain_id = "rt-network-test";
  g.members = {dir / "hosp-a" / "member.toml", dir / "hosp-b" / "member.toml"};
  g.admin_key = dir / "hosp-b" / "keys" / "admin.key";
  g.passphrase_file = dir / "pass";
  g.out = dir / "genesis.bin";
  std::ostringstream printed;
  auto s = CreateGenesis(g, printed);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(printed.str().find("# hosp-b: node.validator_index = 1") != std::string::npos);
  auto genesis = proto::LoadGenesis(g.out);
  REQUIRE(genesis.has_value());
  const auto& gen = std::get<ledger::Genesis>(*genesis->payload);
  REQUIRE(gen.institutions.size() == 2);
  CHECK(gen.institutions[0].id == "hosp-a");
  CHECK(gen.parameters.block_time_in_state);  // a new chain can take a transferred state
  CHECK(ReadAll(dir / "hosp-a" / "member.toml").find(gen.institutions[0].validator_key.ToHex()) !=
        std::string::npos);

  // A key that is no member's admin key cannot sign the genesis.
  testing::TempDir other;
  InitOptions o;
  o.home = other.path();
  o.institution_id = "hosp-z";
  o.name = "Z";
  o.passphrase_file = dir / "pass";
  // Listening on every interface (the default) needs an address the others can dial.
  auto undialable = InitNode(o, out);
  CHECK(undialable.code() == StatusCode::kInvalidArgument);
  CHECK(undialable.message() ==
        "--listen 0.0.0.0:26600 listens on every interface, which the other hospitals cannot "
        "dial: pass --advertise with this host's name or address as they reach it (e.g. "
        "--advertise ertr.hosp-z.example:26600)");
  o.advertised_address = "[::]:26600";
  CHECK(InitNode(o, out).message().find("--advertise [::]:26600 means every interface, which the "
                                        "other hospitals cannot dial") == 0);
  CHECK_FALSE(std::filesystem::exists(other / "keys"));
  o.advertised_address = "ertr.hosp-z.example:26600";
  // The unauthenticated HTTP endpoints stay on loopback unless config.toml says otherwise.
  o.http = "0.0.0.0:26700";
  CHECK(InitNode(o, out).message().find("--http 0.0.0.0:26700 is off loopback. Its endpoints") ==
        0);
  CHECK_FALSE(std::filesystem::exists(other / "keys"));
  o.http = "127.0.0.1:26700";
  REQUIRE(InitNode(o, out).ok());
  CHECK(ReadAll(other / "member.toml").find("address = \"ertr.hosp-z.example:26600\"") !=
        std::string::npos);
  // A member file whose address no one can dial is refused by the coordinator, by name.
  const std::string good_address = "ertr.hosp-z.example:26600";
  for (const auto& [bad, why] : std::vector<std::pair<std::string, std::string>>{
           {"0.0.0.0:26600",
            "z.toml: field 'address' is '0.0.0.0:26600', which no other "
            "hospital can dial"},
           {"nonsense", "z.toml: 'address' must be HOST:PORT"}}) {
    std::string member = ReadAll(other / "member.toml");
    member.replace(member.find(good_address), good_address.size(), bad);
    std::ofstream(dir / "z.toml", std::ios::trunc) << member;
    GenesisOptions zg = g;
    zg.members.push_back(dir / "z.toml");
    auto refused = CreateGenesis(zg, printed);
    INFO(bad);
    CHECK(refused.code() == StatusCode::kInvalidArgument);
    CHECK(refused.message().find(why) != std::string::npos);
  }
  // Nothing is written over an existing genesis, nor for a member given twice, nor for a chain
  // id the members cannot type.
  const std::string signed_once = ReadAll(g.out);
  CHECK(CreateGenesis(g, printed).code() == StatusCode::kAlreadyExists);
  CHECK(ReadAll(g.out) == signed_once);
  GenesisOptions twice = g;
  twice.out = dir / "twice.bin";
  twice.members.push_back(dir / "hosp-b" / "member.toml");
  auto repeated = CreateGenesis(twice, printed);
  CHECK(repeated.code() == StatusCode::kInvalidArgument);
  CHECK(repeated.message().find("institutions[2].id") != std::string::npos);
  CHECK(repeated.message().find("'hosp-b' appears twice") != std::string::npos);
  CHECK(repeated.message().find("each member once") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(twice.out));
  twice.members.pop_back();
  twice.chain_id = "rt net";
  CHECK(CreateGenesis(twice, printed).message().find("--chain-id 'rt net' must be") == 0);
  CHECK_FALSE(std::filesystem::exists(twice.out));

  g.out = dir / "other.bin";
  g.admin_key = other / "keys" / "admin.key";
  CHECK(CreateGenesis(g, printed).message().find("not the admin key of any member") !=
        std::string::npos);
  o.institution_id = "Hosp A!";
  CHECK(InitNode(o, out).code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ertr::node
