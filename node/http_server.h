#pragma once

// A small HTTP/1.1 server (Boost.Beast) for the node's plain endpoints: /metrics (Prometheus),
// /healthz, and the /v1 status and transaction endpoints (docs/operations.md). One request per
// connection; request bodies are capped; it binds to loopback unless configured otherwise.
//
// Thread-safety: the io_context's thread only.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "net/asio.h"

namespace ertr::node {

struct HttpRequest {
  std::string method;  // "GET", "POST"
  std::string target;  // "/metrics"
  std::string body;
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

inline constexpr std::size_t kMaxHttpBodyBytes = 64u << 20;

// {"error": code, "message": message} with the given HTTP status; the message is JSON-escaped.
HttpResponse JsonError(unsigned http_status, std::string_view code, std::string_view message);
// The same for a Status, its code mapped to the HTTP status that says the same (409, 401, ...).
HttpResponse JsonError(const Status& status);

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  HttpServer(boost::asio::io_context& io, std::string host, std::uint16_t port, Handler handler);
  ~HttpServer();
  Status Start();
  void Stop();
  std::uint16_t port() const { return port_; }

 private:
  void Accept();

  std::string host_;
  std::uint16_t port_;
  Handler handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
  bool stopped_ = false;
};

}  // namespace ertr::node
