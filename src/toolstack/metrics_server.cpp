// The metrics endpoint over cpp-httplib: one route, two worker threads (a scrape is
// cheap and rare), everything else 404.
#include "toolstack/metrics_server.hpp"

#include <httplib.h>

#include <sys/socket.h>

#include <charconv>

namespace domus::toolstack {

Result<ListenAddress> parse_listen_address(std::string_view text) {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
        return make_error("metrics address \"{}\": expected ADDR:PORT", text);
    std::string_view host = text.substr(0, colon);
    std::string_view port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    else if (host.find(':') != std::string_view::npos)
        return make_error("metrics address \"{}\": write an IPv6 address in brackets", text);
    if (host.empty()) return make_error("metrics address \"{}\": no address before the port", text);
    int number = -1;
    auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (port.empty() || error != std::errc() || end != port.data() + port.size() || number < 0 ||
        number > 65535)
        return make_error("metrics address \"{}\": port must be a number 0..65535", text);
    return ListenAddress{std::string(host), number};
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const ListenAddress& address,
                                                            Collect collect) {
    std::unique_ptr<MetricsServer> server(new MetricsServer);
    server->server_ = std::make_unique<httplib::Server>();
    auto& http = *server->server_;
    http.new_task_queue = [] { return new httplib::ThreadPool(2); };
    // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, which would let a
    // second daemon share the port (and half the scrapes) instead of being refused.
    http.set_socket_options([](socket_t sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    http.Get("/metrics",
             [collect = std::move(collect)](const httplib::Request&, httplib::Response& response) {
                 response.set_content(collect(), "text/plain; version=0.0.4; charset=utf-8");
             });
    int port = address.port;
    if (port == 0)
        port = http.bind_to_any_port(address.host);
    else if (!http.bind_to_port(address.host, port))
        port = -1;
    if (port < 0)
        return make_error("metrics: cannot listen on {}:{} (address in use, or not this host's)",
                          address.host, address.port);
    bool v6 = address.host.find(':') != std::string::npos;
    server->address_ =
        v6 ? fmt::format("[{}]:{}", address.host, port) : fmt::format("{}:{}", address.host, port);
    server->thread_ = std::thread([&http] { http.listen_after_bind(); });
    return server;
}

MetricsServer::~MetricsServer() {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
}

}  // namespace domus::toolstack
