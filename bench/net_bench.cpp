// bench/run net: guests with the PV network (netfront, lwIP) on a bridge in a network
// namespace of the benchmark's own, measured with Debian's iperf (2), wrk, curl and ping
// against baselines taken in the same run: the host's loopback for TCP, the same static
// file served by a small threaded server on the host for HTTP, and ping over loopback.
//   net_tcp_host_to_guest_gbit_s   iperf -c <guest> against the guest's lwiperf
//   net_tcp_guest_to_host_gbit_s   the guest's lwiperf client against iperf -s
//   net_tcp_guest_to_guest_gbit_s  one guest fetching 2 GB from another's httpd
//   net_tcp_loopback_gbit_s        iperf over the host's loopback; *_vs_loopback ratios
//   net_http_requests_s            wrk (2 threads, 16 connections) against the guest's httpd
//   net_http_host_requests_s       the same against the host server; net_http_vs_host
//   net_ping_rtt_us                host to guest; net_ping_loopback_rtt_us
//   net_tx_notifications_per_mib   the guest's notifications to netback while sending
#include "net_bench.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "../tests/integration/process.hpp"
#include "figures.hpp"
#include "soak/soak.hpp"

namespace domus::bench {
namespace {

using test::ProcessResult;
using test::run_process;
using namespace std::chrono_literals;

ProcessResult tool(std::vector<std::string> argv, std::chrono::milliseconds limit = 30s) {
    return run_process(argv, limit);
}

// iperf 2's CSV report (-y C): the last field of the last line is bits per second.
double iperf_gbit_s(const std::string& csv) {
    std::istringstream lines(csv);
    std::string line, last;
    while (std::getline(lines, line))
        if (!line.empty()) last = line;
    auto comma = last.rfind(',');
    return comma == std::string::npos ? 0 : std::atof(last.c_str() + comma + 1) / 1e9;
}

double first_match(const std::string& text, const std::regex& pattern) {
    std::smatch m;
    return std::regex_search(text, m, pattern) ? std::atof(m[1].str().c_str()) : 0;
}

// The static file the guest's httpd serves at /, served the same way (a thread per
// connection, keep-alive) from the host: the baseline for requests/s.
class HostServer {
public:
    HostServer(const std::string& file, const char* address, int port) {
        std::ifstream in(file, std::ios::binary);
        std::stringstream body;
        body << in.rdbuf();
        body_ = body.str();
        listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(uint16_t(port));
        ::inet_pton(AF_INET, address, &addr.sin_addr);
        if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(listener_, 128) != 0)
            return;
        thread_ = std::thread([this] { accept_loop(); });
    }
    ~HostServer() {
        ::shutdown(listener_, SHUT_RDWR);
        ::close(listener_);
        if (thread_.joinable()) thread_.join();
    }

private:
    void accept_loop() {
        for (;;) {
            int s = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
            if (s < 0) return;
            std::thread([this, s] { serve(s); }).detach();
        }
    }
    void serve(int s) {
        std::string buf;
        char chunk[4096];
        for (;;) {
            auto end = buf.find("\r\n\r\n");
            if (end == std::string::npos) {
                ssize_t n = ::recv(s, chunk, sizeof chunk, 0);
                if (n <= 0) break;
                buf.append(chunk, size_t(n));
                continue;
            }
            buf.erase(0, end + 4);
            std::string response =
                "HTTP/1.1 200 OK\r\nServer: host\r\nContent-Type: text/html\r\n"
                "Content-Length: " +
                std::to_string(body_.size()) + "\r\nConnection: keep-alive\r\n\r\n" + body_;
            if (::send(s, response.data(), response.size(), MSG_NOSIGNAL) < 0) break;
        }
        ::close(s);
    }

    std::string body_;
    int listener_ = -1;
    std::thread thread_;
};

class Network {
public:
    Network(const std::string& bin, const std::string& guests) : bin_(bin), guests_(guests) {
        root_ = "/tmp/domus-bench-net-" + std::to_string(::getpid());
        ::setenv("DOMUS_RUN_DIR", root_.c_str(), 1);
        if (::unshare(CLONE_NEWNET) != 0) return;
        std::ofstream("/proc/sys/net/ipv6/conf/default/disable_ipv6") << "1";
        ready_ = ip({"link", "set", "lo", "up"}) &&
                 ip({"link", "add", "xenbr0", "type", "bridge"}) &&
                 ip({"addr", "add", "10.77.0.1/24", "dev", "xenbr0"}) &&
                 ip({"link", "set", "xenbr0", "up"});
    }
    ~Network() {
        soak::stop(root_);
        std::filesystem::remove_all(root_);
    }
    bool ready() const { return ready_; }

    bool create(const std::string& name, const std::string& app, const std::string& ip,
                const std::string& args = "") {
        std::filesystem::create_directories(root_);
        std::string path = root_ + "/" + name + ".cfg";
        std::ofstream(path) << "name = \"" << name << "\"\nkernel = \"" << guests_ << "/" << app
                            << ".elf\"\nmemory = 256\nvif = [ 'bridge=xenbr0,ip=" << ip
                            << "/24' ]\nextra = \"" << args << "\"\non_poweroff = \"preserve\"\n";
        auto r = run_process({bin_, "create", path}, 60s);
        if (r.status != 0)
            std::fprintf(stderr, "bench: net: create %s: %s", name.c_str(), r.err.c_str());
        return r.status == 0;
    }
    std::string console(const std::string& name) {
        return run_process({bin_, "console", name}, 500ms).out;
    }
    bool wait_console(const std::string& name, const std::string& text,
                      std::chrono::seconds limit = 30s) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline)
            if (console(name).find(text) != std::string::npos) return true;
        return false;
    }

private:
    static bool ip(std::vector<std::string> args) {
        args.insert(args.begin(), "/usr/sbin/ip");
        return run_process(args, 10s).status == 0;
    }
    std::string bin_, guests_, root_;
    bool ready_ = false;
};

void tcp(Network& net) {
    if (!wanted("net_tcp")) return;
    // The baseline: iperf over the host's loopback.
    double loopback = 0;
    {
        auto server = std::thread([] {
            tool({"/usr/bin/iperf", "-s", "-B", "127.0.0.1", "-p", "5101", "-t", "8"}, 15s);
        });
        std::this_thread::sleep_for(300ms);
        loopback = iperf_gbit_s(
            tool({"/usr/bin/iperf", "-c", "127.0.0.1", "-p", "5101", "-t", "5", "-y", "C"}).out);
        server.join();
        emit("net_tcp_loopback_gbit_s", loopback, "Gbit/s");
    }
    if (net.create("iperf", "iperf", "10.77.0.3") &&
        net.wait_console("iperf", "iperf: listening")) {
        double in =
            iperf_gbit_s(tool({"/usr/bin/iperf", "-c", "10.77.0.3", "-t", "5", "-y", "C"}).out);
        emit("net_tcp_host_to_guest_gbit_s", in, "Gbit/s");
        if (loopback > 0) emit("net_tcp_host_to_guest_vs_loopback", in / loopback, "ratio");
    }
    // The guest's lwiperf client sends for 10 s to the host's iperf server.
    ProcessResult server;
    auto thread = std::thread([&] {
        server = tool({"/usr/bin/iperf", "-s", "-B", "10.77.0.1", "-y", "C", "-t", "20"}, 30s);
    });
    std::this_thread::sleep_for(300ms);
    if (net.create("sender", "iperf", "10.77.0.4", "-c 10.77.0.1"))
        net.wait_console("sender", "iperf: sent", 30s);
    thread.join();
    double out = iperf_gbit_s(server.out);
    emit("net_tcp_guest_to_host_gbit_s", out, "Gbit/s");
    if (loopback > 0) emit("net_tcp_guest_to_host_vs_loopback", out / loopback, "ratio");
}

void http_and_guest_to_guest(Network& net, const std::string& source_dir) {
    if (!wanted("net_http") && !wanted("net_tcp_guest_to_guest") && !wanted("net_ping") &&
        !wanted("net_tx_notifications"))
        return;
    if (!net.create("web", "httpd", "10.77.0.2") || !net.wait_console("web", "httpd: listening"))
        return;
    std::regex rps(R"(Requests/sec:\s+([\d.]+))");
    if (wanted("net_http")) {
        auto guest = tool({"/usr/bin/wrk", "-t2", "-c16", "-d5s", "http://10.77.0.2/"}, 30s);
        double guest_rps = first_match(guest.out, rps);
        emit("net_http_requests_s", guest_rps, "req/s");
        HostServer host(source_dir + "/guest/apps/www/index.html", "10.77.0.1", 8080);
        auto native = tool({"/usr/bin/wrk", "-t2", "-c16", "-d5s", "http://10.77.0.1:8080/"}, 30s);
        double host_rps = first_match(native.out, rps);
        emit("net_http_host_requests_s", host_rps, "req/s");
        if (host_rps > 0) emit("net_http_vs_host", guest_rps / host_rps, "ratio");
    }
    if (wanted("net_ping")) {
        std::regex avg(R"(= [\d.]+/([\d.]+)/)");
        auto guest = tool({"/usr/bin/ping", "-q", "-c", "50", "-i", "0.01", "10.77.0.2"});
        emit("net_ping_rtt_us", first_match(guest.out, avg) * 1000, "us");
        auto loop = tool({"/usr/bin/ping", "-q", "-c", "50", "-i", "0.01", "127.0.0.1"});
        emit("net_ping_loopback_rtt_us", first_match(loop.out, avg) * 1000, "us");
    }
    if (wanted("net_tx_notifications")) {
        std::regex notes(R"(vif0_notifications (\d+))");
        auto status = [] { return tool({"/usr/bin/curl", "-s", "http://10.77.0.2/status"}).out; };
        double before = first_match(status(), notes);
        constexpr double kMiB = 256;
        tool({"/usr/bin/curl", "-s", "-o", "/dev/null", "http://10.77.0.2/bytes/268435456"}, 60s);
        double after = first_match(status(), notes);
        emit("net_tx_notifications_per_mib", (after - before) / kMiB, "notifications/MiB");
    }
    if (wanted("net_tcp_guest_to_guest") &&
        net.create("fetch", "netcheck", "10.77.0.5", "fetch http://10.77.0.2/bytes/2000000000") &&
        net.wait_console("fetch", "netcheck: done", 120s)) {
        std::regex rate(R"(([\d.]+) Mbit/s)");
        emit("net_tcp_guest_to_guest_gbit_s", first_match(net.console("fetch"), rate) / 1000,
             "Gbit/s");
    }
}

}  // namespace

void bench_net(const std::string& bin, const std::string& guests, const std::string& source_dir) {
    if (!group_wanted("net_")) return;
    Network net(bin, guests);
    if (!net.ready()) {
        std::fprintf(stderr, "bench: net: no network namespace with a bridge\n");
        return;
    }
    tcp(net);
    http_and_guest_to_guest(net, source_dir);
}

}  // namespace domus::bench
