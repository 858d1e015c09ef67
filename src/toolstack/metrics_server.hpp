// domusd's optional metrics endpoint: GET /metrics on ADDR:PORT answers the Prometheus
// text format (metrics_text.hpp). The HTTP side is cpp-httplib, on its own threads; the
// daemon gives a function that collects a fresh snapshot per scrape.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "base/result.hpp"

namespace httplib {
class Server;
}

namespace domus::toolstack {

struct ListenAddress {
    std::string host;  // as given, without IPv6 brackets
    int port = 0;      // 0: any free port
};

// "ADDR:PORT" or "[IPv6]:PORT"; the error says what is wrong with the text.
Result<ListenAddress> parse_listen_address(std::string_view text);

class MetricsServer {
public:
    using Collect = std::function<std::string()>;

    // Binds at once (a taken port or a bad address fails here, with the reason), then
    // serves on a thread until destroyed.
    static Result<std::unique_ptr<MetricsServer>> start(const ListenAddress& address,
                                                        Collect collect);
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    // Where it listens, with the port chosen when 0 was asked: "127.0.0.1:9100".
    const std::string& address() const noexcept { return address_; }

private:
    MetricsServer() = default;

    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
    std::string address_;
};

}  // namespace domus::toolstack
