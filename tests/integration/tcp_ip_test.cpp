// Guests with a TCP/IP stack (lwIP over netfront) on real networks: httpd answers curl
// over a bridge, two guests talk to each other, a routed guest is reached by its own
// address, and the echo service returns TCP streams and UDP datagrams whole.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <net/if.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "network_fixture.hpp"

namespace domus::test {
namespace {

using namespace std::chrono_literals;

class TcpIpTest : public NetworkFixture {
protected:
    void SetUp() override {
        NetworkFixture::SetUp();
        if (IsSkipped()) return;
        // The host's end of the bridged guest network.
        ip({"addr", "add", "10.77.0.1/24", "dev", "xenbr0"});
    }

    // A TCP connection to addr:port, or -1.
    static int connect_tcp(const char* addr, int port) {
        int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(uint16_t(port));
        ::inet_pton(AF_INET, addr, &to.sin_addr);
        if (::connect(s, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
            ::close(s);
            return -1;
        }
        return s;
    }
};

TEST_F(TcpIpTest, HttpdServesCurlOverABridge) {
    auto created =
        domus({"create", guest_config("web", "httpd", "'bridge=xenbr0,ip=10.77.0.2/24'")});
    ASSERT_EQ(created.status, 0) << created.err;
    ASSERT_TRUE(console_shows("web", "httpd: listening on 80")) << console("web");
    EXPECT_NE(console("web").find("net: en0 10.77.0.2/24 gw 10.77.0.1 (static)"),
              std::string::npos);

    auto page = curl({"-f", "http://10.77.0.2/"});
    ASSERT_EQ(page.status, 0) << page.err;
    EXPECT_NE(page.out.find("Served by a Domus domain"), std::string::npos) << page.out;

    // 3 MB of a known pattern, byte for byte (many TCP windows, rings wrapping).
    std::string body_path = run_dir_ + "/bytes";
    auto bytes = curl({"-f", "-o", body_path, "http://10.77.0.2/bytes/3000000"});
    ASSERT_EQ(bytes.status, 0) << bytes.err;
    std::ifstream in(body_path, std::ios::binary);
    std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_EQ(body.size(), 3000000u);
    size_t wrong = 0;
    for (size_t i = 0; i < body.size(); ++i)
        wrong += body[i] != char('a' + i % 26);
    EXPECT_EQ(wrong, 0u);

    auto missing = curl({"-s", "-o", "/dev/null", "-w", "%{http_code}", "http://10.77.0.2/nope"});
    EXPECT_EQ(missing.out, "404");
    auto status = curl({"-f", "http://10.77.0.2/status"});
    EXPECT_NE(status.out.find("requests "), std::string::npos) << status.out;

    // The address is published where Xen's guest agents put it.
    auto published = xenstore("xenstore-read", {"/local/domain/1/attr/vif/0/ipv4/0"});
    EXPECT_EQ(published.status, 0) << published.err;
    EXPECT_EQ(published.out, "10.77.0.2\n");
}

TEST_F(TcpIpTest, TwoGuestsOnOneBridgeTalkToEachOtherAndToTheHost) {
    ASSERT_EQ(
        domus({"create", guest_config("web", "httpd", "'bridge=xenbr0,ip=10.77.0.2/24'")}).status,
        0);
    ASSERT_TRUE(console_shows("web", "httpd: listening on 80")) << console("web");
    auto created =
        domus({"create", guest_config("check", "netcheck", "'bridge=xenbr0,ip=10.77.0.4/24'",
                                      "ping 10.77.0.1 ping 10.77.0.2 "
                                      "fetch http://10.77.0.2/ "
                                      "fetch http://10.77.0.2/bytes/200000")});
    ASSERT_EQ(created.status, 0) << created.err;
    ASSERT_TRUE(console_shows("check", "netcheck: done")) << console("check");
    std::string out = console("check");
    EXPECT_NE(out.find("netcheck: ping 10.77.0.1 ok"), std::string::npos) << out;
    EXPECT_NE(out.find("netcheck: ping 10.77.0.2 ok"), std::string::npos) << out;
    EXPECT_NE(out.find("netcheck: fetch http://10.77.0.2/ ok status 200"), std::string::npos)
        << out;
    EXPECT_NE(out.find("netcheck: fetch http://10.77.0.2/bytes/200000 ok status 200 body 200000 "),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("netcheck: done, 0 failed"), std::string::npos) << out;
}

TEST_F(TcpIpTest, ARoutedGuestIsReachedByItsOwnAddress) {
    auto created =
        domus({"create", guest_config("routed", "httpd",
                                      "'ip=10.6.0.2,script=vif-route,gatewaydev=uplink0'")});
    ASSERT_EQ(created.status, 0) << created.err;
    ASSERT_TRUE(console_shows("routed", "httpd: listening on 80")) << console("routed");
    // No subnet: the guest sends everything on-link, and the host's vif answers ARP.
    auto page = curl({"-f", "--retry", "5", "--retry-connrefused", "http://10.6.0.2/"});
    ASSERT_EQ(page.status, 0) << page.err << console("routed");
    EXPECT_NE(page.out.find("Served by a Domus domain"), std::string::npos);
    EXPECT_NE(show({"route", "show", "10.6.0.2"}).find("dev vif1.0"), std::string::npos);
}

TEST_F(TcpIpTest, EchoReturnsTcpStreamsAndUdpDatagramsWhole) {
    ASSERT_EQ(
        domus({"create", guest_config("echo", "echo", "'bridge=xenbr0,ip=10.77.0.5/24'")}).status,
        0);
    ASSERT_TRUE(console_shows("echo", "echo: ready on 7")) << console("echo");

    // 2 MiB of random bytes through TCP, read back as they come.
    int s = connect_tcp("10.77.0.5", 7);
    ASSERT_GE(s, 0) << std::strerror(errno);
    std::vector<char> sent(2 << 20), back;
    std::mt19937 random(7);
    for (auto& c : sent)
        c = char(random());
    size_t written = 0;
    while (back.size() < sent.size()) {
        pollfd fd{s, short(POLLIN | (written < sent.size() ? POLLOUT : 0)), 0};
        ASSERT_EQ(::poll(&fd, 1, 5000), 1) << "stalled at " << back.size();
        if (fd.revents & POLLOUT) {
            ssize_t n = ::send(s, sent.data() + written,
                               std::min<size_t>(65536, sent.size() - written), MSG_DONTWAIT);
            if (n > 0) written += size_t(n);
        }
        if (fd.revents & POLLIN) {
            char buf[65536];
            ssize_t n = ::recv(s, buf, sizeof buf, MSG_DONTWAIT);
            ASSERT_GT(n, 0);
            back.insert(back.end(), buf, buf + n);
        }
    }
    ::close(s);
    EXPECT_TRUE(back == sent);

    int u = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in guest{};
    guest.sin_family = AF_INET;
    guest.sin_port = htons(7);
    ::inet_pton(AF_INET, "10.77.0.5", &guest.sin_addr);
    ASSERT_EQ(::connect(u, reinterpret_cast<sockaddr*>(&guest), sizeof guest), 0);
    // Small datagrams, and large ones that cross the wire in IP fragments both ways
    // (the guest's stack fragments what it sends itself, with the UDP checksum filled in).
    const std::vector<size_t> large = {1473, 3000, 8000, 20000, 60000};
    int echoed = 0;
    for (int i = 0; i < 100 + int(large.size()); ++i) {
        size_t size = i < 100 ? size_t(i * 13) : large[size_t(i - 100)];
        std::string datagram = "datagram " + std::to_string(i) + std::string(size, 'y');
        ASSERT_EQ(::send(u, datagram.data(), datagram.size(), 0), ssize_t(datagram.size()));
        pollfd ready{u, POLLIN, 0};
        if (::poll(&ready, 1, 2000) != 1) continue;
        std::vector<char> buf(65536);
        ssize_t n = ::recv(u, buf.data(), buf.size(), 0);
        bool whole = n == ssize_t(datagram.size()) &&
                     std::memcmp(buf.data(), datagram.data(), size_t(n)) == 0;
        EXPECT_TRUE(whole) << "datagram of " << datagram.size() << " bytes came back as " << n;
        echoed += whole;
    }
    ::close(u);
    EXPECT_EQ(echoed, 105);
    // ICMP too, in fragments.
    auto pinged = ping({"-c", "3", "-i", "0.1", "-s", "6000", "-W", "2", "10.77.0.5"});
    EXPECT_NE(pinged.out.find("3 received"), std::string::npos) << pinged.out << pinged.err;
}

TEST_F(TcpIpTest, ANatGuestGetsItsAddressByDhcpAndReachesAServerOutside) {
    // "Outside": a namespace of its own behind the host's uplink, with an HTTP server.
    std::string outside = "domus-outside-" + std::to_string(::getpid());
    ip({"netns", "add", outside});
    struct Cleanup {
        std::string netns, dir;
        ~Cleanup() {
            run_process({"/usr/bin/pkill", "-f", "http.server 8000 --directory " + dir}, 10s);
            run_process({"/usr/sbin/ip", "netns", "del", netns}, 10s);
        }
    } cleanup{outside, run_dir_ + "/outside"};
    ip({"link", "set", "uplink1", "netns", outside});
    ip({"-n", outside, "addr", "add", "10.200.0.2/24", "dev", "uplink1"});
    ip({"-n", outside, "link", "set", "uplink1", "up"});
    ip({"-n", outside, "link", "set", "lo", "up"});
    std::filesystem::create_directories(cleanup.dir);
    std::ofstream(cleanup.dir + "/hello.txt") << "hello from outside\n";
    std::thread server([&] {
        run_process({"/usr/sbin/ip", "netns", "exec", outside, "/usr/bin/python3", "-m",
                     "http.server", "8000", "--directory", cleanup.dir, "--bind", "10.200.0.2"},
                    60s);
    });
    struct Join {
        std::thread& t;
        ~Join() { t.join(); }
    } join{server};  // after Cleanup's kill (declared later, destroyed first: kill below)
    ASSERT_TRUE(eventually(
        [&] {
            return curl({"-f", "-o", "/dev/null", "http://10.200.0.2:8000/hello.txt"}).status == 0;
        },
        20s));

    // The guest asks DHCP (vif-nat's dnsmasq answers, and serves DNS on the gateway).
    auto created =
        domus({"create", guest_config("natted", "netcheck", "'script=vif-nat,ip=10.0.5.2/24'",
                                      "ip=dhcp resolve localhost "
                                      "fetch http://10.200.0.2:8000/hello.txt "
                                      "ping 10.200.0.2")});
    ASSERT_EQ(created.status, 0) << created.err;
    bool done = console_shows("natted", "netcheck: done", 40s);
    run_process({"/usr/bin/pkill", "-f", "http.server 8000 --directory " + cleanup.dir}, 10s);
    ASSERT_TRUE(done) << console("natted");
    std::string out = console("natted");
    EXPECT_NE(out.find("net: en0 10.0.5.2/24 gw 10.0.5.1 (dhcp)"), std::string::npos) << out;
    EXPECT_NE(out.find("netcheck: resolve localhost ok 127.0.0.1"), std::string::npos) << out;
    EXPECT_NE(out.find("netcheck: fetch http://10.200.0.2:8000/hello.txt ok status 200 body 19 "
                       "bytes \"hello from outside\""),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("netcheck: ping 10.200.0.2 ok"), std::string::npos) << out;
    EXPECT_NE(out.find("netcheck: done, 0 failed"), std::string::npos) << out;
}

TEST_F(TcpIpTest, AnInterfaceAttachedToARunningGuestServesAndDetachingItLeavesTheGuestServing) {
    ASSERT_EQ(
        domus({"create", guest_config("web", "httpd", "'bridge=xenbr0,ip=10.77.0.2/24'")}).status,
        0);
    ASSERT_TRUE(console_shows("web", "httpd: listening on 80")) << console("web");
    auto attached = domus({"network-attach", "web", "bridge=xenbr0,ip=10.77.0.12/24"});
    ASSERT_EQ(attached.status, 0) << attached.err;
    ASSERT_TRUE(console_shows("web", "net: en1 10.77.0.12/24")) << console("web");
    auto page = curl({"-f", "--retry", "5", "--retry-connrefused", "http://10.77.0.12/"});
    EXPECT_EQ(page.status, 0) << page.err;
    EXPECT_NE(page.out.find("Served by a Domus domain"), std::string::npos);

    auto detached = domus({"network-detach", "web", "1"});
    ASSERT_EQ(detached.status, 0) << detached.err;
    EXPECT_TRUE(eventually([] { return ::if_nametoindex("vif1.1") == 0; }));
    auto still = curl({"-f", "http://10.77.0.2/status"});
    EXPECT_EQ(still.status, 0) << still.err << console("web");
    EXPECT_NE(domus({"list"}).out.find("web"), std::string::npos);
}

}  // namespace
}  // namespace domus::test
