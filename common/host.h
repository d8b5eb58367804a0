#pragma once

// Whether a configured host names this machine only: the literal "localhost", or an IP address
// literal in 127.0.0.0/8 or ::1 (optionally in brackets). Host names are never guessed from their
// spelling ("127.example.org" is not loopback), since plaintext may only travel to loopback.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"

namespace ertr {

bool IsLoopbackHost(std::string_view host);

// Whether a host is the unspecified address (0.0.0.0 or ::, optionally in brackets): one to listen
// on (every interface), never one that another machine can dial.
bool IsUnspecifiedHost(std::string_view host);

// "127.0.0.1:26600" -> host, port (the host may be a bracketed IPv6 literal). InvalidArgument
// names `field` (a configuration field or a command-line option) and shows `example`.
Result<std::pair<std::string, std::uint16_t>> ParseHostPort(
    std::string_view text, std::string_view field, std::string_view example = "127.0.0.1:26600");

}  // namespace ertr
