#include "common/host.h"

#include <arpa/inet.h>

#include <algorithm>
#include <iterator>
#include <optional>
#include <string>
#include <variant>

namespace ertr {

namespace {

// An IP address literal (IPv6 optionally in brackets); nullopt for anything else, host names
// included.
std::optional<std::variant<in_addr, in6_addr>> ParseIpLiteral(std::string_view host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string h(host);
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return v4;
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) return v6;
  return std::nullopt;
}

bool SameAddress(const in6_addr& a, const in6_addr& b) {
  return std::equal(std::begin(a.s6_addr), std::end(a.s6_addr), std::begin(b.s6_addr));
}

}  // namespace

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost") return true;
  const auto ip = ParseIpLiteral(host);
  if (!ip) return false;
  if (const auto* v4 = std::get_if<in_addr>(&*ip)) return (ntohl(v4->s_addr) >> 24) == 127;
  static const in6_addr loopback = IN6ADDR_LOOPBACK_INIT;
  return SameAddress(std::get<in6_addr>(*ip), loopback);
}

bool IsUnspecifiedHost(std::string_view host) {
  const auto ip = ParseIpLiteral(host);
  if (!ip) return false;
  if (const auto* v4 = std::get_if<in_addr>(&*ip)) return v4->s_addr == htonl(INADDR_ANY);
  return SameAddress(std::get<in6_addr>(*ip), in6addr_any);
}

Result<std::pair<std::string, std::uint16_t>> ParseHostPort(std::string_view text,
                                                            std::string_view field,
                                                            std::string_view example) {
  const auto colon = text.rfind(':');
  auto bad = [&] {
    return Status::InvalidArgument("'" + std::string(field) + "' must be HOST:PORT (for example " +
                                   std::string(example) + "), got '" + std::string(text) + "'");
  };
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) return bad();
  unsigned long port = 0;
  for (char c : text.substr(colon + 1)) {
    if (c < '0' || c > '9') return bad();
    port = port * 10 + static_cast<unsigned long>(c - '0');
    if (port > 65535) return bad();
  }
  return std::make_pair(std::string(text.substr(0, colon)), static_cast<std::uint16_t>(port));
}

}  // namespace ertr
