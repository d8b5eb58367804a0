#include "node/http_server.h"

#include "net/transport.h"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace ertr::node {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpServer::Handler& handler)
      : stream_(std::move(socket)), handler_(handler) {}

  void Start() {
    parser_.body_limit(kMaxHttpBodyBytes);
    stream_.expires_after(std::chrono::seconds(30));
    auto self = shared_from_this();
    http::async_read(stream_, buffer_, parser_,
                     [self](const beast::error_code& ec, std::size_t) { self->OnRead(ec); });
  }

 private:
  void OnRead(const beast::error_code& ec) {
    HttpResponse r;
    bool head = false;
    if (ec == http::error::body_limit) {
      r = {413, "text/plain; charset=utf-8",
           "request body over " + std::to_string(kMaxHttpBodyBytes) + " bytes\n"};
    } else if (ec) {
      return;  // the client went away or sent garbage: nothing to answer
    } else {
      const auto& req = parser_.get();
      // HEAD (a monitor's probe) is answered as GET without the body.
      head = req.method() == http::verb::head;
      r = handler_(HttpRequest{head ? std::string("GET") : std::string(req.method_string()),
                               std::string(req.target()), req.body()});
    }
    response_.result(r.status);
    response_.set(http::field::content_type, r.content_type);
    response_.set(http::field::server, "ertrd");
    response_.keep_alive(false);
    response_.body() = std::move(r.body);
    response_.prepare_payload();
    if (head) response_.body().clear();  // Content-Length stays the GET body's
    auto self = shared_from_this();
    http::async_write(stream_, response_, [self](const beast::error_code&, std::size_t) {
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request_parser<http::string_body> parser_;
  http::response<http::string_body> response_;
  const HttpServer::Handler& handler_;
};

}  // namespace

HttpResponse JsonError(unsigned http_status, std::string_view code, std::string_view message) {
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') escaped += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) escaped += c;
  }
  return HttpResponse{
      http_status, "application/json",
      "{\"error\":\"" + std::string(code) + "\",\"message\":\"" + escaped + "\"}\n"};
}

HttpResponse JsonError(const Status& s) {
  unsigned http = 500;
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      http = 400;
      break;
    case StatusCode::kUnauthenticated:
      http = 401;
      break;
    case StatusCode::kPermissionDenied:
      http = 403;
      break;
    case StatusCode::kNotFound:
      http = 404;
      break;
    case StatusCode::kAlreadyExists:
      http = 409;
      break;
    case StatusCode::kFailedPrecondition:
      http = 412;
      break;
    case StatusCode::kResourceExhausted:
      http = 429;
      break;
    case StatusCode::kUnavailable:
      http = 503;
      break;
    default:
      break;
  }
  return JsonError(http, StatusCodeName(s.code()), s.message());
}

HttpServer::HttpServer(asio::io_context& io, std::string host, std::uint16_t port, Handler handler)
    : host_(std::move(host)), port_(port), handler_(std::move(handler)), acceptor_(io) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() {
  ERTR_RETURN_IF_ERROR(net::ListenOn(acceptor_, host_, port_, "node.http"));
  port_ = acceptor_.local_endpoint().port();
  Accept();
  return Status::Ok();
}

void HttpServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

void HttpServer::Accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (stopped_) return;
    if (ec) {
      // Out of file descriptors or similar: wait instead of spinning the io thread.
      auto timer = std::make_shared<asio::steady_timer>(acceptor_.get_executor(),
                                                        std::chrono::milliseconds(200));
      timer->async_wait([this, timer](const boost::system::error_code& e) {
        if (!e && !stopped_) Accept();
      });
      return;
    }
    std::make_shared<Session>(std::move(socket), handler_)->Start();
    Accept();
  });
}

}  // namespace ertr::node
