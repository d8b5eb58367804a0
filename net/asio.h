#pragma once

// The one way to include Boost.Asio in ertrchain. Boost 1.74's Asio with GCC 12 in C++20 mode
// needs <utility> before <boost/asio.hpp> (std::exchange in awaitable.hpp); see
// ../shared/TOOLCHAIN.md. Only net/ and node/ include this.

#include <utility>

#include <boost/asio.hpp>
