#include "node/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>
#include <vector>

namespace ertr::node {

namespace fs = std::filesystem;

namespace {

class Reader {
 public:
  Reader(const toml::table& t, std::string file, std::string prefix = "")
      : t_(t), file_(std::move(file)), prefix_(std::move(prefix)) {}

  Status Error(std::string_view field, std::string_view what) const {
    return Status::InvalidArgument(file_ + ": field '" + prefix_ + std::string(field) + "' " +
                                   std::string(what));
  }
  template <typename T>
  Status Integer(std::string_view path, T& out, std::uint64_t min, std::uint64_t max) const {
    auto node = t_.at_path(path);
    if (!node) return Status::Ok();  // keep the default
    auto v = node.value<std::int64_t>();
    if (!v || *v < 0 || static_cast<std::uint64_t>(*v) < min ||
        static_cast<std::uint64_t>(*v) > max) {
      return Error(path,
                   "must be an integer in " + std::to_string(min) + ".." + std::to_string(max));
    }
    out = static_cast<T>(*v);
    return Status::Ok();
  }
  Status String(std::string_view path, std::string& out, bool required) const {
    auto node = t_.at_path(path);
    if (!node) return required ? Error(path, "is missing") : Status::Ok();
    auto v = node.value<std::string>();
    if (!v) return Error(path, "must be a string");
    out = *v;
    return Status::Ok();
  }
  Status Bool(std::string_view path, bool& out) const {
    auto node = t_.at_path(path);
    if (!node) return Status::Ok();  // keep the default
    auto v = node.value<bool>();
    if (!v || !node.is_boolean()) return Error(path, "must be true or false (without quotes)");
    out = *v;
    return Status::Ok();
  }
  Status Path(std::string_view path, fs::path& out) const {
    std::string s;
    if (!t_.at_path(path)) return Status::Ok();
    ERTR_RETURN_IF_ERROR(String(path, s, false));
    out = s;
    return Status::Ok();
  }
  Status Address(std::string_view path, std::string& host, std::uint16_t& port) const {
    std::string s;
    if (!t_.at_path(path)) return Status::Ok();
    ERTR_RETURN_IF_ERROR(String(path, s, false));
    auto hp = ParseHostPort(s, prefix_ + std::string(path));
    if (!hp) return hp.error().WithContext(file_);
    host = hp->first;
    port = hp->second;
    return Status::Ok();
  }

 private:
  const toml::table& t_;
  std::string file_;
  std::string prefix_;
};

// The settings config.toml may hold, by table. Anything else is refused: a misspelt setting would
// otherwise be ignored silently, and the node run with the default the operator meant to change.
struct KnownTable {
  std::string_view name;
  std::vector<std::string_view> fields;
};
const std::vector<KnownTable>& KnownTables() {
  static const std::vector<KnownTable> known = {
      {"node",
       {"validator_index", "institution_id", "listen", "http", "http_allow_remote", "data_dir",
        "genesis"}},
      {"api",
       {"listen", "tls_cert_file", "tls_key_file", "tls_key_passphrase_file",
        "upload_idle_seconds"}},
      {"keys", {"validator", "institution", "passphrase_file"}},
      {"consensus",
       {"view_timeout_ms", "primary_link_timeout_ms", "pipeline_window", "min_pipelined_batch",
        "batch_wait_us"}},
      {"mempool", {"max_mib", "max_per_signer", "blob_wait_seconds"}},
      {"peers", {"validator_index", "address"}},
  };
  return known;
}

std::string JoinNames(const std::vector<std::string_view>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

Status CheckFields(const toml::table& table, const KnownTable& known, const std::string& where,
                   const std::string& file_name) {
  for (const auto& [key, value] : table) {
    const std::string_view k = key.str();
    if (std::find(known.fields.begin(), known.fields.end(), k) == known.fields.end()) {
      return Status::InvalidArgument(file_name + ": field '" + where + "." + std::string(k) +
                                     "' is not a setting (misspelt?); " + where +
                                     " takes: " + JoinNames(known.fields));
    }
  }
  return Status::Ok();
}

Status CheckKnownSettings(const toml::table& t, const std::string& file_name) {
  std::vector<std::string_view> tables;
  for (const auto& k : KnownTables()) tables.push_back(k.name);
  for (const auto& [key, value] : t) {
    const std::string name(key.str());
    auto known = std::find_if(KnownTables().begin(), KnownTables().end(),
                              [&](const KnownTable& k) { return k.name == name; });
    if (known == KnownTables().end()) {
      return Status::InvalidArgument(
          file_name + ": '" + name +
          "' is not a table of this file (misspelt?); the tables are: " + JoinNames(tables));
    }
    if (name == "peers") {
      const auto* peers = value.as_array();
      if (peers == nullptr) {
        return Status::InvalidArgument(file_name +
                                       ": 'peers' must be an array of tables, each written "
                                       "[[peers]] with validator_index and address");
      }
      for (std::size_t i = 0; i < peers->size(); ++i) {
        if (const auto* p = peers->get_as<toml::table>(i)) {
          ERTR_RETURN_IF_ERROR(
              CheckFields(*p, *known, "peers[" + std::to_string(i) + "]", file_name));
        }
      }
      continue;
    }
    const auto* table = value.as_table();
    if (table == nullptr) {
      return Status::InvalidArgument(file_name + ": '" + name + "' must be a table, written [" +
                                     name + "]");
    }
    ERTR_RETURN_IF_ERROR(CheckFields(*table, *known, name, file_name));
  }
  return Status::Ok();
}

}  // namespace

Result<NodeConfig> LoadNodeConfig(const fs::path& home) {
  const fs::path file = home / "config.toml";
  std::error_code ec;
  const auto kind = fs::status(file, ec).type();
  if (ec && kind != fs::file_type::not_found) {
    return Status::PermissionDenied("cannot read " + file.string() + ": " + ec.message() +
                                    "; run ertrd as the user that owns the node's home");
  }
  if (kind == fs::file_type::not_found) {
    return Status::NotFound("no " + file.string() +
                            "; create one with 'ertrd init' (a hospital's node) or 'ertrd testnet' "
                            "(a local test network), or pass the right --home");
  }
  if (kind != fs::file_type::regular) {
    return Status::InvalidArgument(file.string() + " is not a regular file");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return Status::PermissionDenied("cannot read " + file.string() + ": " +
                                    std::generic_category().message(errno) +
                                    "; run ertrd as the user that owns the node's home");
  }
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().size() > 1u << 20) {
    return Status::InvalidArgument(file.string() + " is over 1 MiB; is it the right file?");
  }
  return ParseNodeConfig(text.str(), home, file.string());
}

Result<NodeConfig> ParseNodeConfig(std::string_view text, const fs::path& home,
                                   const std::string& file_name) {
  toml::table t;
  try {
    t = toml::parse(text, file_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << "line " << e.source().begin.line << ", column " << e.source().begin.column;
    return Status::InvalidArgument(file_name + ": not valid TOML at " + where.str() + ": " +
                                   std::string(e.description()));
  }
  ERTR_RETURN_IF_ERROR(CheckKnownSettings(t, file_name));
  NodeConfig c;
  c.home = home;
  Reader r(t, file_name);
  std::uint32_t index = 0;
  if (!t.at_path("node.validator_index")) return r.Error("node.validator_index", "is missing");
  ERTR_RETURN_IF_ERROR(r.Integer("node.validator_index", index, 0, 255));
  c.validator_index = ReplicaId(index);
  ERTR_RETURN_IF_ERROR(r.String("node.institution_id", c.institution_id, true));
  ERTR_RETURN_IF_ERROR(r.Address("node.listen", c.listen_host, c.listen_port));
  ERTR_RETURN_IF_ERROR(r.Address("node.http", c.http_host, c.http_port));
  ERTR_RETURN_IF_ERROR(r.Bool("node.http_allow_remote", c.http_allow_remote));
  if (!c.http_allow_remote && !IsLoopbackHost(c.http_host)) {
    return r.Error("node.http",
                   "is '" + c.http_host + "', off loopback. " + kHttpOffLoopback +
                       ": keep it on 127.0.0.1 and let a local scraper or an "
                       "authenticating reverse proxy reach it, or set "
                       "node.http_allow_remote = true to serve the network on purpose");
  }
  ERTR_RETURN_IF_ERROR(r.Address("api.listen", c.api_host, c.api_port));
  ERTR_RETURN_IF_ERROR(r.Path("api.tls_cert_file", c.api_tls_cert_file));
  ERTR_RETURN_IF_ERROR(r.Path("api.tls_key_file", c.api_tls_key_file));
  ERTR_RETURN_IF_ERROR(r.Path("api.tls_key_passphrase_file", c.api_tls_key_passphrase_file));
  if (!c.api_tls_key_passphrase_file.empty() && c.api_tls_key_file.empty()) {
    return r.Error("api.tls_key_passphrase_file",
                   "is set but api.tls_key_file is not: it opens the encrypted TLS key file");
  }
  ERTR_RETURN_IF_ERROR(r.Integer("api.upload_idle_seconds", c.api_upload_idle_seconds, 10, 3'600));
  if (c.api_tls_cert_file.empty() != c.api_tls_key_file.empty()) {
    return r.Error(c.api_tls_cert_file.empty() ? "api.tls_cert_file" : "api.tls_key_file",
                   "is missing: TLS needs both the certificate and the key file");
  }
  if (c.api_tls_cert_file.empty() && !IsLoopbackHost(c.api_host)) {
    return r.Error("api.listen",
                   "is '" + c.api_host +
                       "', off loopback, but TLS is not configured: set api.tls_cert_file and "
                       "api.tls_key_file, or listen on 127.0.0.1 (plaintext records must never "
                       "cross the network unencrypted)");
  }
  ERTR_RETURN_IF_ERROR(r.Path("node.data_dir", c.data_dir));
  ERTR_RETURN_IF_ERROR(r.Path("node.genesis", c.genesis_file));
  ERTR_RETURN_IF_ERROR(r.Path("keys.validator", c.validator_key_file));
  ERTR_RETURN_IF_ERROR(r.Path("keys.institution", c.institution_key_file));
  ERTR_RETURN_IF_ERROR(r.Path("keys.passphrase_file", c.passphrase_file));
  ERTR_RETURN_IF_ERROR(r.Integer("consensus.view_timeout_ms", c.view_timeout_ms, 100, 600'000));
  ERTR_RETURN_IF_ERROR(
      r.Integer("consensus.primary_link_timeout_ms", c.primary_link_timeout_ms, 0, 600'000));
  ERTR_RETURN_IF_ERROR(r.Integer("consensus.pipeline_window", c.pipeline_window, 1, 64));
  ERTR_RETURN_IF_ERROR(
      r.Integer("consensus.min_pipelined_batch", c.min_pipelined_batch, 1, 100'000));
  ERTR_RETURN_IF_ERROR(r.Integer("consensus.batch_wait_us", c.batch_wait_us, 0, 100'000));
  ERTR_RETURN_IF_ERROR(r.Integer("mempool.max_mib", c.mempool_max_mib, 1, 65'536));
  ERTR_RETURN_IF_ERROR(r.Integer("mempool.max_per_signer", c.mempool_max_per_signer, 1, 1'000'000));
  ERTR_RETURN_IF_ERROR(
      r.Integer("mempool.blob_wait_seconds", c.mempool_blob_wait_seconds, 5, 86'400));
  std::set<std::uint32_t> seen{index};
  if (const auto* peers = t.get_as<toml::array>("peers")) {
    for (std::size_t i = 0; i < peers->size(); ++i) {
      const std::string f = "peers[" + std::to_string(i) + "]";
      const auto* p = peers->get_as<toml::table>(i);
      if (p == nullptr) return r.Error(f, "must be a table with validator_index and address");
      Reader pr(*p, file_name, f + ".");
      PeerConfig peer;
      std::uint32_t pi = 0;
      if (!p->contains("validator_index") || !p->contains("address")) {
        return r.Error(f, "needs validator_index and address");
      }
      ERTR_RETURN_IF_ERROR(pr.Integer("validator_index", pi, 0, 255));
      if (pi == index) {
        return pr.Error("validator_index",
                        "is " + std::to_string(pi) +
                            ", this node's own node.validator_index: [[peers]] lists the other "
                            "validators only. Check node.validator_index (this hospital's place "
                            "in the genesis) and remove this node's own entry");
      }
      if (!seen.insert(pi).second) {
        return pr.Error("validator_index", "repeats validator " + std::to_string(pi) +
                                               ": each other validator has one [[peers]] entry");
      }
      peer.validator_index = ReplicaId(pi);
      ERTR_RETURN_IF_ERROR(pr.Address("address", peer.host, peer.port));
      if (IsUnspecifiedHost(peer.host)) {
        return pr.Error("address", "is " + peer.host +
                                       ", which means every interface and cannot be dialled: give "
                                       "the peer's host name or address");
      }
      c.peers.push_back(std::move(peer));
    }
  }
  return c;
}

std::string RenderNodeConfig(const NodeConfig& c) {
  std::ostringstream o;
  o << "# ertrd configuration of " << c.institution_id << " (docs/operations.md).\n"
    << "# Relative paths are relative to this file's directory.\n\n"
    << "[node]\n"
    << "validator_index = " << c.validator_index.value() << "\n"
    << "institution_id = \"" << c.institution_id << "\"\n"
    << "listen = \"" << c.listen_host << ":" << c.listen_port << "\"   # validators connect here\n"
    << "http = \"" << c.http_host << ":" << c.http_port
    << "\"     # /metrics, /healthz, /v1/status (keep on loopback)\n";
  if (c.http_allow_remote) o << "http_allow_remote = true   # unauthenticated, read-only\n";
  o << "data_dir = \"" << c.data_dir.string() << "\"\n"
    << "genesis = \"" << c.genesis_file.string() << "\"\n\n"
    << "[api]\n"
    << "listen = \"" << c.api_host << ":" << c.api_port
    << "\"   # integrators and ertrctl; off loopback set both TLS files\n";
  if (!c.api_tls_cert_file.empty()) {
    o << "tls_cert_file = \"" << c.api_tls_cert_file.string() << "\"\n"
      << "tls_key_file = \"" << c.api_tls_key_file.string() << "\"\n";
    if (!c.api_tls_key_passphrase_file.empty()) {
      o << "tls_key_passphrase_file = \"" << c.api_tls_key_passphrase_file.string() << "\"\n";
    }
  }
  o << "upload_idle_seconds = " << c.api_upload_idle_seconds
    << "   # an upload silent this long is ended\n";
  o << "\n[keys]\n"
    << "validator = \"" << c.validator_key_file.string() << "\"\n"
    << "institution = \"" << c.institution_key_file.string() << "\"\n"
    << "# The key files' passphrase: this file's first line, or $" << kPassphraseEnv
    << " when empty.\n"
    << "passphrase_file = \"" << c.passphrase_file.string() << "\"\n\n"
    << "[consensus]\n"
    << "view_timeout_ms = " << c.view_timeout_ms << "\n"
    << "primary_link_timeout_ms = " << c.primary_link_timeout_ms
    << "   # the primary's link down: view change after this (0: off)\n"
    << "pipeline_window = " << c.pipeline_window << "\n"
    << "min_pipelined_batch = " << c.min_pipelined_batch << "\n"
    << "batch_wait_us = " << c.batch_wait_us
    << "   # after a commit, wait this long for its callers' next requests (0: off)\n\n"
    << "[mempool]\n"
    << "max_mib = " << c.mempool_max_mib << "\n"
    << "max_per_signer = " << c.mempool_max_per_signer << "\n"
    << "blob_wait_seconds = " << c.mempool_blob_wait_seconds
    << "   # a record waits this long at most for its ciphertext to reach f+1 nodes\n";
  for (const auto& p : c.peers) {
    o << "\n[[peers]]\nvalidator_index = " << p.validator_index.value() << "\naddress = \""
      << p.host << ":" << p.port << "\"\n";
  }
  return o.str();
}

}  // namespace ertr::node
