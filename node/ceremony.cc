#include "node/ceremony.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <sstream>

#include "crypto/box_key.h"
#include "crypto/key_file.h"
#include "crypto/passphrase.h"
#include "ledger/chain_code.h"
#include "ledger/shape.h"
#include "node/config.h"
#include "node/testnet.h"
#include "proto/ledger_codec.h"

namespace ertr::node {

namespace fs = std::filesystem;

namespace {

constexpr fs::perms kHomeFilePerms =
    fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read;

// The passphrase in guarded memory, wiped when it goes (never copied into a std::string).
Result<crypto::SecureBuffer> Passphrase(const fs::path& file) {
  return crypto::ReadPassphrase(file.string(), kPassphraseEnv);
}

std::string_view View(const crypto::SecureBuffer& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

Result<Member> ReadMember(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status::NotFound("cannot read member file " + file.string());
  std::ostringstream text;
  text << in.rdbuf();
  return ParseMember(text.str(), file.string());
}

}  // namespace

Result<Member> ParseMember(std::string_view text, const std::string& name) {
  toml::table t;
  try {
    t = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument(name + ": not valid TOML: " + std::string(e.description()));
  }
  auto field = [&](const char* key) -> Result<std::string> {
    auto v = t[key].value<std::string>();
    if (!v) return Status::InvalidArgument(name + ": field '" + key + "' is missing");
    return *v;
  };
  Member m;
  ERTR_ASSIGN_OR_RETURN(m.institution.id, field("id"));
  ERTR_ASSIGN_OR_RETURN(m.institution.name, field("name"));
  ERTR_ASSIGN_OR_RETURN(m.address, field("address"));
  auto dialled = ParseHostPort(m.address, "address");
  if (!dialled) return dialled.error().WithContext(name);
  if (IsUnspecifiedHost(dialled->first)) {
    return Status::InvalidArgument(name + ": field 'address' is '" + m.address +
                                   "', which no other hospital can dial: set it to the host name "
                                   "or address of this hospital's node as the others reach it");
  }
  ERTR_ASSIGN_OR_RETURN(auto vk, field("validator_key"));
  ERTR_ASSIGN_OR_RETURN(auto ek, field("encryption_key"));
  ERTR_ASSIGN_OR_RETURN(auto ak, field("admin_key"));
  auto ctx = [&](Status s) { return s.WithContext(name); };
  auto v = crypto::PublicKey::FromHex(vk, "validator_key");
  if (!v) return ctx(v.error());
  auto e = crypto::BoxPublicKey::FromHex(ek, "encryption_key");
  if (!e) return ctx(e.error());
  auto a = crypto::PublicKey::FromHex(ak, "admin_key");
  if (!a) return ctx(a.error());
  m.institution.validator_key = *v;
  m.institution.encryption_key = *e;
  m.institution.admin_keys = {*a};
  return m;
}

Status InitNode(const InitOptions& o, std::ostream& out) {
  if (!ledger::IsValidInstitutionId(o.institution_id)) {
    return Status::InvalidArgument("--institution-id must be 1..32 characters of a-z, 0-9, '-'");
  }
  if (o.name.empty() || o.name.size() > 128) {
    return Status::InvalidArgument("--name must be 1..128 characters");
  }
  ERTR_ASSIGN_OR_RETURN(auto listen, ParseHostPort(o.listen, "--listen"));
  ERTR_ASSIGN_OR_RETURN(auto http, ParseHostPort(o.http, "--http"));
  ERTR_ASSIGN_OR_RETURN(auto api, ParseHostPort(o.api, "--api"));
  if (!IsLoopbackHost(api.first)) {
    return Status::InvalidArgument(
        "--api " + o.api +
        " is off loopback, which needs TLS: initialise with a loopback --api, then set "
        "api.listen, api.tls_cert_file and api.tls_key_file in config.toml");
  }
  if (!IsLoopbackHost(http.first)) {
    return Status::InvalidArgument("--http " + o.http + " is off loopback. " +
                                   std::string(kHttpOffLoopback) +
                                   ": initialise with a loopback --http; to serve the network on "
                                   "purpose, set node.http and node.http_allow_remote = true in "
                                   "config.toml");
  }
  const std::string advertised = o.advertised_address.empty() ? o.listen : o.advertised_address;
  ERTR_ASSIGN_OR_RETURN(auto dialled, ParseHostPort(advertised, "--advertise"));
  if (IsUnspecifiedHost(dialled.first)) {
    return Status::InvalidArgument(
        (o.advertised_address.empty() ? "--listen " + o.listen + " listens on every interface"
                                      : "--advertise " + advertised + " means every interface") +
        ", which the other hospitals cannot dial: pass --advertise with this host's name or "
        "address as they reach it (e.g. --advertise ertr." +
        o.institution_id + ".example:" + std::to_string(dialled.second) + ")");
  }
  std::error_code ec;
  if (fs::exists(o.home / "keys" / "validator.key", ec)) {
    return Status::AlreadyExists(o.home.string() +
                                 " holds keys already; keys are never "
                                 "overwritten");
  }
  ERTR_ASSIGN_OR_RETURN(auto secret, Passphrase(o.passphrase_file));
  const std::string_view pass = View(secret);
  fs::create_directories(o.home / "keys", ec);
  if (ec)
    return Status::IoError("cannot create " + (o.home / "keys").string() + ": " + ec.message());
  auto validator = crypto::SigningKey::Generate();
  auto institution = crypto::BoxKeyPair::Generate();
  auto admin = crypto::SigningKey::Generate();
  const auto cost = crypto::KdfCost::Moderate();
  ERTR_RETURN_IF_ERROR(
      crypto::SaveKeyFile(o.home / "keys" / "validator.key", validator, pass, cost));
  ERTR_RETURN_IF_ERROR(
      crypto::SaveKeyFile(o.home / "keys" / "institution.key", institution, pass, cost));
  ERTR_RETURN_IF_ERROR(crypto::SaveKeyFile(o.home / "keys" / "admin.key", admin, pass, cost));

  NodeConfig c;
  c.institution_id = o.institution_id;
  c.listen_host = listen.first;
  c.listen_port = listen.second;
  c.http_host = http.first;
  c.http_port = http.second;
  c.api_host = api.first;
  c.api_port = api.second;
  c.passphrase_file = o.passphrase_file.empty() ? fs::path() : fs::absolute(o.passphrase_file);
  ERTR_RETURN_IF_ERROR(WriteHomeFile(o.home / "config.toml",
                                     "# Set node.validator_index and [[peers]] from the genesis "
                                     "coordinator's output.\n" +
                                         RenderNodeConfig(c),
                                     kHomeFilePerms));
  std::ostringstream member;
  member << "# Public half of " << o.institution_id << ": send it to the genesis coordinator.\n"
         << "id = \"" << o.institution_id << "\"\nname = \"" << o.name << "\"\naddress = \""
         << advertised << "\"\nvalidator_key = \"" << validator.public_key().ToHex()
         << "\"\nencryption_key = \"" << institution.public_key().ToHex() << "\"\nadmin_key = \""
         << admin.public_key().ToHex() << "\"\n";
  ERTR_RETURN_IF_ERROR(WriteHomeFile(o.home / "member.toml", member.str(), kHomeFilePerms));
  out << "initialised " << o.home.string() << " for " << o.institution_id << "\n"
      << "  validator key " << validator.public_key().ToHex() << "\n"
      << "  send " << (o.home / "member.toml").string() << " to the genesis coordinator\n";
  return Status::Ok();
}

namespace {

// The state before the genesis: nothing.
class NoState final : public StateReader {
 public:
  Result<std::optional<Bytes>> Get(ByteSpan) const override { return std::optional<Bytes>(); }
  Status ScanPrefix(ByteSpan, const std::function<bool(ByteSpan, ByteSpan)>&) const override {
    return Status::Ok();
  }
};

}  // namespace

Status CreateGenesis(const GenesisOptions& o, std::ostream& out) {
  if (o.members.empty()) return Status::InvalidArgument("give the members' member.toml files");
  // The chain id is typed into every member's tools (ertrctl --chain-id) and logged: letters,
  // digits, '.', '_' and '-' only.
  const bool id_ok =
      !o.chain_id.empty() && o.chain_id.size() <= 64 &&
      std::all_of(o.chain_id.begin(), o.chain_id.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-';
      });
  if (!id_ok) {
    return Status::InvalidArgument("--chain-id '" + o.chain_id +
                                   "' must be 1-64 letters, digits, '.', '_' or '-' (e.g. "
                                   "rt-network-2027)");
  }
  ledger::Genesis g;
  g.chain_id = o.chain_id;
  g.genesis_time_ms = WallClockMs();
  g.parameters.block_time_in_state = true;  // new chains can take a transferred state (ADR 0037)
  std::vector<std::string> addresses;
  for (const auto& file : o.members) {
    ERTR_ASSIGN_OR_RETURN(auto m, ReadMember(file));
    g.institutions.push_back(std::move(m.institution));
    addresses.push_back(m.address);
  }
  if (auto bad = ledger::ValidateShape(ledger::Payload(g))) {
    return Status::InvalidArgument("genesis: " + bad->ToString());
  }
  ERTR_ASSIGN_OR_RETURN(Bytes file, crypto::ReadKeyFileBytes(o.admin_key));
  ERTR_ASSIGN_OR_RETURN(auto secret, Passphrase(o.passphrase_file));
  const std::string_view pass = View(secret);
  auto key = crypto::DecodeSigningKeyFile(file, pass);
  if (!key) return key.error().WithContext(o.admin_key.string());
  auto signer = crypto::MakeEd25519Signer(std::move(*key));
  ledger::TransactionHeader h;
  h.chain_id = g.chain_id;
  h.nonce = 1;
  ERTR_ASSIGN_OR_RETURN(auto tx, proto::MakeTransaction(h, g, *signer));
  bool signer_listed = false;
  for (const auto& inst : g.institutions)
    signer_listed |= inst.admin_keys[0] == signer->public_key();
  if (!signer_listed) {
    return Status::InvalidArgument(
        "--admin-key is not the admin key of any member; sign with "
        "one of the members' keys/admin.key");
  }
  // Check it as every node will at its first start (one member given twice, an id or a key
  // used twice), before anything is written.
  auto verifier = crypto::MakeEd25519Verifier();
  if (auto applied = ledger::ChainCode(*verifier).ExecuteGenesis(tx, NoState()); !applied) {
    auto why = applied.error();
    if (why.message().find("institutions[") != std::string::npos) {
      why = why.WithContext("the member.toml files (in the order given; each member once)");
    }
    return why;
  }
  std::error_code ec;
  if (fs::exists(o.out, ec)) {
    return Status::AlreadyExists("--out " + o.out.string() +
                                 " exists already; a genesis is signed once: remove it first if "
                                 "this network has never started, or pick another path");
  }
  ERTR_RETURN_IF_ERROR(WriteGenesis(o.out, tx));
  out << "wrote " << o.out.string() << " for chain " << g.chain_id << " with "
      << g.institutions.size() << " validators\n";
  for (std::size_t i = 0; i < g.institutions.size(); ++i) {
    out << "\n# " << g.institutions[i].id << ": node.validator_index = " << i << "; peers:\n";
    for (std::size_t j = 0; j < g.institutions.size(); ++j) {
      if (j == i) continue;
      out << "[[peers]]\nvalidator_index = " << j << "\naddress = \"" << addresses[j] << "\"\n";
    }
  }
  return Status::Ok();
}

}  // namespace ertr::node
