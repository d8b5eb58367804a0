#pragma once

// Whether a configured host names this machine only: the literal "localhost", or an IP address
// literal in 127.0.0.0/8 or ::1 (optionally in brackets). Host names are never guessed from their
// spelling ("127.example.org" is not loopback), since plaintext may only travel to loopback.

#include <string_view>

namespace ertr {

bool IsLoopbackHost(std::string_view host);

}  // namespace ertr
