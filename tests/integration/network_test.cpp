// The host side of vifs through domusd, in a network namespace of the test's own (the
// CLI, domusd and the monitors inherit it): each interface's TAP joins a bridge, is
// routed to, or is a NAT gateway with its masquerade table; all of it goes with the
// domain. A missing bridge fails the create cleanly. A rate= holds what the guest sends
// to its rate. vifs come and go on a running domain (network-attach, network-detach).
#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <regex>

#include "network_fixture.hpp"

namespace domus::test {
namespace {

class NetworkTest : public NetworkFixture {
protected:
    // A UDP socket, closed with the test.
    struct Socket {
        int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ~Socket() { ::close(fd); }
    };
};

TEST_F(NetworkTest, BridgedRoutedAndNattedVifsAreSetUpAndTakenDown) {
    std::string cfg =
        idle_config("net",
                    "vif = [ 'mac=00:16:3e:00:00:0a', 'ip=10.5.0.2/24,script=vif-nat', "
                    "'ip=10.6.0.2,script=vif-route,gatewaydev=uplink0', 'bridge=xenbr0' ]\n");
    auto created = domus({"create", cfg});
    ASSERT_EQ(created.status, 0) << created.err;

    // No bridge= : the default bridge, which the script makes.
    EXPECT_NE(show({"link", "show", "vif1.0"}).find("master domusbr0"), std::string::npos);
    EXPECT_NE(show({"link", "show", "vif1.3"}).find("master xenbr0"), std::string::npos);
    EXPECT_NE(show({"-4", "addr", "show", "dev", "vif1.1"}).find("inet 10.5.0.1/24"),
              std::string::npos);
    auto nat = tool("nft", {"list", "table", "ip", "domus-vif1.1"});
    EXPECT_EQ(nat.status, 0) << nat.err;
    EXPECT_NE(nat.out.find("ip saddr 10.5.0.0/24 oifname != \"vif1.1\" masquerade"),
              std::string::npos)
        << nat.out;
    EXPECT_NE(show({"-4", "addr", "show", "dev", "vif1.2"}).find("inet 10.200.0.1/32"),
              std::string::npos);
    EXPECT_NE(show({"route", "show", "10.6.0.2"}).find("dev vif1.2"), std::string::npos);
    std::ifstream proxy("/proc/sys/net/ipv4/conf/vif1.2/proxy_arp");
    int proxy_arp = 0;
    proxy >> proxy_arp;
    EXPECT_EQ(proxy_arp, 1);
    // The backend as Linux netback publishes it; the MAC given, and one settled for the others.
    auto mac = xenstore("xenstore-read", {"/local/domain/0/backend/vif/1/0/mac"});
    EXPECT_EQ(mac.out, "00:16:3e:00:00:0a\n");
    auto settled = xenstore("xenstore-read", {"/local/domain/0/backend/vif/1/1/mac"});
    EXPECT_EQ(settled.out.rfind("00:16:3e:", 0), 0u) << settled.out;

    ASSERT_EQ(domus({"destroy", "net"}).status, 0);
    EXPECT_TRUE(eventually([] { return ::if_nametoindex("vif1.0") == 0; }));
    EXPECT_EQ(::if_nametoindex("vif1.1"), 0u);
    EXPECT_NE(tool("nft", {"list", "table", "ip", "domus-vif1.1"}).status, 0);  // gone too
    EXPECT_EQ(show({"route", "show", "10.6.0.2"}), "");
    auto listing = xenstore("xenstore-ls", {"/local/domain/0/backend/vif/1"});
    EXPECT_NE(listing.status, 0) << listing.out;
}

TEST_F(NetworkTest, AGuestOnTheBridgeAnswersPingAndUdp) {
    // The host's end of the guest network: 10.77.0.1/24 on the bridge.
    ip({"addr", "add", "10.77.0.1/24", "dev", "xenbr0"});
    std::string cfg =
        config("echo", "name = \"echo\"\nkernel = \"" + guest_image("net_echo") +
                           "\"\nmemory = 32\nvif = [ 'bridge=xenbr0,ip=10.77.0.2' ]\n");
    auto created = domus({"create", cfg});
    ASSERT_EQ(created.status, 0) << created.err;
    // The real ping, until the guest's netfront is up (it connects when the app opens it).
    ASSERT_TRUE(eventually(
        [&] {
            return ping({"-c", "1", "-W", "1", "10.77.0.2"}).status == 0;
        },
        std::chrono::seconds(20)));
    auto pinged = ping({"-c", "5", "-i", "0.05", "-W", "2", "10.77.0.2"});
    EXPECT_EQ(pinged.status, 0) << pinged.out << pinged.err;
    EXPECT_NE(pinged.out.find("5 received"), std::string::npos) << pinged.out;

    // UDP echo (port 7): every datagram comes back whole.
    Socket udp;
    int socket = udp.fd;
    sockaddr_in guest{};
    guest.sin_family = AF_INET;
    guest.sin_port = htons(7);
    ::inet_pton(AF_INET, "10.77.0.2", &guest.sin_addr);
    ASSERT_EQ(::connect(socket, reinterpret_cast<sockaddr*>(&guest), sizeof guest), 0);
    int echoed = 0;
    for (int i = 0; i < 200; ++i) {
        std::string datagram = "datagram " + std::to_string(i) + std::string(size_t(i * 7), 'x');
        ASSERT_EQ(::send(socket, datagram.data(), datagram.size(), 0), ssize_t(datagram.size()));
        pollfd ready{socket, POLLIN, 0};
        if (::poll(&ready, 1, 2000) != 1) continue;
        char back[2048];
        ssize_t n = ::recv(socket, back, sizeof back, 0);
        if (n == ssize_t(datagram.size()) && std::memcmp(back, datagram.data(), n) == 0) ++echoed;
    }
    EXPECT_EQ(echoed, 200);
    // The frames counted on both sides reach the operator's view.
    auto top = domus({"top", "-b", "-i", "1"});
    std::regex row(R"(\n +echo +\S+ +\d+ +[\d.]+ +\d+ +[\d.]+ +\d+ +[\d.]+ +1 +1 +(\d+) +(\d+) )");
    std::smatch match;
    ASSERT_TRUE(std::regex_search(top.out, match, row)) << top.out;
    EXPECT_GT(std::stoul(match[1]), 100u);  // KiB sent by the guest
    EXPECT_GT(std::stoul(match[2]), 100u);  // KiB received
    ASSERT_EQ(domus({"destroy", "echo"}).status, 0);
}

TEST_F(NetworkTest, AMissingBridgeFailsTheCreateAndLeavesNothing) {
    std::string cfg = idle_config("nobr", "vif = [ 'bridge=nosuchbr' ]\n");
    auto created = domus({"create", cfg});
    EXPECT_NE(created.status, 0);
    EXPECT_NE(created.err.find("bridge \"nosuchbr\" does not exist"), std::string::npos)
        << created.err;
    EXPECT_TRUE(eventually([] { return ::if_nametoindex("vif1.0") == 0; }));
    auto list = domus({"list"});
    EXPECT_EQ(list.out.find("nobr"), std::string::npos) << list.out;
    // A bad VIFSPEC is refused before anything starts.
    std::string bad = idle_config("badvif", "vif = [ 'mac=01:00:00:00:00:01' ]\n");
    auto refused = domus({"create", bad});
    EXPECT_NE(refused.status, 0);
    EXPECT_NE(refused.err.find("multicast"), std::string::npos) << refused.err;
}

TEST_F(NetworkTest, AGuestWithARateSendsWithinTenPercentOfIt) {
    // The echo guest answers every UDP datagram; its answers are what it sends, so the
    // host offers twice its rate and counts what comes back.
    ip({"addr", "add", "10.77.0.1/24", "dev", "xenbr0"});
    std::string cfg = config("rated", "name = \"rated\"\nkernel = \"" + guest_image("net_echo") +
                                          "\"\nmemory = 32\nvif = [ "
                                          "'bridge=xenbr0,ip=10.77.0.2,rate=1Mb/s@20ms' ]\n");
    ASSERT_EQ(domus({"create", cfg}).status, 0);
    ASSERT_TRUE(eventually(
        [&] {
            return ping({"-c", "1", "-W", "1", "10.77.0.2"}).status == 0;
        },
        std::chrono::seconds(20)));
    Socket udp;
    sockaddr_in guest{};
    guest.sin_family = AF_INET;
    guest.sin_port = htons(7);
    ::inet_pton(AF_INET, "10.77.0.2", &guest.sin_addr);
    ASSERT_EQ(::connect(udp.fd, reinterpret_cast<sockaddr*>(&guest), sizeof guest), 0);
    constexpr std::size_t kPayload = 1000, kFrame = kPayload + 42;  // + UDP, IP, Ethernet
    constexpr double kRate = 125'000;                               // 1Mb/s in bytes
    std::string datagram(kPayload, 'r');
    using Clock = std::chrono::steady_clock;
    auto start = Clock::now();
    auto next_send = start;
    std::size_t counted = 0;  // frames back between 1 s and 4 s (after the first burst)
    while (Clock::now() < start + std::chrono::seconds(4)) {
        auto now = Clock::now();
        if (now >= next_send) {  // 2 x the rate offered: a datagram every 4 ms
            (void)::send(udp.fd, datagram.data(), datagram.size(), MSG_DONTWAIT);
            next_send += std::chrono::milliseconds(4);
        }
        int wait =
            int(std::chrono::duration_cast<std::chrono::milliseconds>(next_send - now).count());
        pollfd ready{udp.fd, POLLIN, 0};
        if (::poll(&ready, 1, std::max(wait, 0)) != 1) continue;
        char back[2048];
        while (::recv(udp.fd, back, sizeof back, MSG_DONTWAIT) == ssize_t(kPayload))
            if (Clock::now() >= start + std::chrono::seconds(1)) ++counted;
    }
    double rate = double(counted * kFrame) / 3.0;
    EXPECT_NEAR(rate, kRate, kRate * 0.10) << counted << " frames in 3 s";
    ASSERT_EQ(domus({"destroy", "rated"}).status, 0);
}

TEST_F(NetworkTest, DomusRunStatsReportEachVifsCounters) {
    // The daemon-less path: the TAP is made and goes with the run; the counters of each
    // vif end the --stats line, named by devid.
    ASSERT_EQ(domus({"info"}).status, 0);  // starts domusd and the store
    auto r =
        run(guest_image("hello"), {"--store-run-dir", run_dir_, "--domid", "77", "--vif",
                                   "bridge=xenbr0", "--vif", "bridge=xenbr0,devid=4", "--stats"});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    for (const char* counter : {"vif0_tx_packets=", "vif0_rx_bytes=", "vif0_dropped=",
                                "vif0_notifications=", "vif4_tx_packets=", "vif4_errors="})
        EXPECT_NE(r.err.find(counter), std::string::npos) << counter << " in " << r.err;
    EXPECT_EQ(::if_nametoindex("vif77.0"), 0u);
}

TEST_F(NetworkTest, AVifAttachedToARunningDomainComesUpAndDetachingItLeavesTheDomainRunning) {
    std::string cfg = idle_config("hot", "vif = [ 'bridge=xenbr0' ]\n");
    ASSERT_EQ(domus({"create", cfg}).status, 0);
    auto attached = domus({"network-attach", "hot", "bridge=xenbr0,ip=10.77.0.9"});
    ASSERT_EQ(attached.status, 0) << attached.err;
    EXPECT_EQ(attached.out, "vif1.1\n");
    // The TAP, on its bridge, behind its anti-spoofing rules; the backend in the store.
    EXPECT_NE(show({"link", "show", "vif1.1"}).find("master xenbr0"), std::string::npos);
    auto rules = tool("nft", {"list", "table", "bridge", "domus-vif1.1"});
    EXPECT_EQ(rules.status, 0) << rules.err;
    EXPECT_NE(rules.out.find("ip saddr != 10.77.0.9"), std::string::npos) << rules.out;
    EXPECT_EQ(xenstore("xenstore-read", {"/local/domain/0/backend/vif/1/1/ip"}).out, "10.77.0.9\n");
    auto list = domus({"network-list", "hot", "--json"});
    ASSERT_EQ(list.status, 0) << list.err;
    EXPECT_NE(list.out.find("\"ifname\": \"vif1.1\""), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("\"ifname\": \"vif1.0\""), std::string::npos) << list.out;
    // A second one with the same MAC is refused, naming it.
    auto mac = xenstore("xenstore-read", {"/local/domain/0/backend/vif/1/1/mac"}).out;
    mac.pop_back();
    auto clash = domus({"network-attach", "hot", "mac=" + mac});
    EXPECT_NE(clash.status, 0);
    EXPECT_NE(clash.err.find("is used by another vif"), std::string::npos) << clash.err;

    // Detached by MAC: the TAP, its rules and its store directory go; the domain runs on.
    auto detached = domus({"network-detach", "hot", mac});
    ASSERT_EQ(detached.status, 0) << detached.err;
    EXPECT_TRUE(eventually([] { return ::if_nametoindex("vif1.1") == 0; }));
    EXPECT_NE(tool("nft", {"list", "table", "bridge", "domus-vif1.1"}).status, 0);
    EXPECT_NE(xenstore("xenstore-ls", {"/local/domain/0/backend/vif/1/1"}).status, 0);
    EXPECT_NE(::if_nametoindex("vif1.0"), 0u);  // the other vif stays
    auto running = domus({"list"});
    EXPECT_NE(running.out.find("\nhot "), std::string::npos) << running.out;
    auto again = domus({"network-detach", "hot", "1"});
    EXPECT_NE(again.status, 0);
    EXPECT_NE(again.err.find("the domain has no vif 1"), std::string::npos) << again.err;
    // Its rate limit changes on the running domain, and is kept in its configuration.
    auto rated = domus({"vif-rate", "hot", "0", "10Mb/s@20ms"});
    EXPECT_EQ(rated.status, 0) << rated.err;
    auto bad_rate = domus({"vif-rate", "hot", "0", "10Mb"});
    EXPECT_NE(bad_rate.status, 0);
    EXPECT_NE(bad_rate.err.find("rate: \"10Mb\""), std::string::npos) << bad_rate.err;
    EXPECT_NE(domus({"vif-rate", "hot", "7", "1Mb/s"}).status, 0);
    EXPECT_EQ(domus({"vif-rate", "hot", "0", "off"}).status, 0);
    // The per-vif counters reach `domus list --json`.
    auto json = domus({"list", "--json"});
    EXPECT_NE(json.out.find("\"notifications\""), std::string::npos) << json.out;
    ASSERT_EQ(domus({"destroy", "hot"}).status, 0);
}

}  // namespace
}  // namespace domus::test
