// The hotplug scripts (scripts/hotplug/) as domusd runs them, in a network namespace of
// the test's own, with a veth pair standing in for each vif (its peer is the guest's
// side): what each mode sets up and takes down, that spoofed frames never reach the
// bridge, vif-nat's dnsmasq, and the messages for what is missing.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "base/fd.hpp"
#include "config/vif_spec.hpp"
#include "toolstack/spawn.hpp"
#include "toolstack/vif_hotplug.hpp"

namespace domus::toolstack {
namespace {

constexpr config::MacAddress kGuestMac = {0x00, 0x16, 0x3e, 0x00, 0x00, 0x01};
constexpr std::uint32_t kDomid = 1;

class VifScriptsTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root for a network namespace";
        if (::unshare(CLONE_NEWNET) != 0) GTEST_SKIP() << "no network namespace: " << errno;
        std::ofstream("/proc/sys/net/ipv6/conf/default/disable_ipv6") << "1";
        run_dir_ = std::filesystem::temp_directory_path() /
                   ("vif_scripts_test." + std::to_string(::getpid()));
        std::filesystem::create_directories(run_dir_);
        ip({"link", "set", "lo", "up"});
    }
    void TearDown() override {
        if (!run_dir_.empty()) std::filesystem::remove_all(run_dir_);
    }

    static void ip(const std::vector<std::string>& args) {
        std::vector<std::string> argv = {"ip"};
        argv.insert(argv.end(), args.begin(), args.end());
        auto done = run_tool(argv);
        ASSERT_TRUE(done) << done.error().message;
    }
    static std::string show(const std::vector<std::string>& args) {
        std::vector<std::string> argv = {"ip"};
        argv.insert(argv.end(), args.begin(), args.end());
        auto done = run_tool(argv);
        return done ? *done : "";
    }
    static Result<std::string> nft_table(const std::string& family, const std::string& name) {
        return run_tool({"nft", "list", "table", family, name});
    }
    // A veth pair: `vif` (the host's side, as the TAP would be) and `peer`, both up.
    static void veth(const std::string& vif, const std::string& peer) {
        ip({"link", "add", vif, "type", "veth", "peer", "name", peer});
        ip({"link", "set", vif, "up"});
        ip({"link", "set", peer, "up"});
    }
    config::VifConfig vif(config::VifScript script, std::vector<std::string> ips,
                          std::uint32_t devid = 0) const {
        config::VifConfig c;
        c.devid = devid;
        c.mac = kGuestMac;
        c.ifname = "vif1." + std::to_string(devid);
        c.script = script;
        c.bridge = "domusbr0";
        c.ips = std::move(ips);
        return c;
    }
    std::string run_dir() const { return run_dir_.string(); }

    std::filesystem::path run_dir_;
};

// A raw socket on one interface: frames written as they are, every frame read.
class RawPort {
public:
    explicit RawPort(const std::string& ifname)
        : fd_(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL))) {
        sockaddr_ll address{};
        address.sll_family = AF_PACKET;
        address.sll_protocol = htons(ETH_P_ALL);
        address.sll_ifindex = int(::if_nametoindex(ifname.c_str()));
        bound_ = fd_.get() >= 0 && address.sll_ifindex > 0 &&
                 ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    }
    bool ok() const { return bound_; }
    bool send(const std::vector<std::uint8_t>& frame) {
        return ::send(fd_.get(), frame.data(), frame.size(), 0) == ssize_t(frame.size());
    }
    // The next frame within `timeout_ms`, empty when none came.
    std::vector<std::uint8_t> receive(int timeout_ms) {
        pollfd ready{fd_.get(), POLLIN, 0};
        if (::poll(&ready, 1, timeout_ms) != 1) return {};
        std::vector<std::uint8_t> frame(2048);
        ssize_t n = ::recv(fd_.get(), frame.data(), frame.size(), 0);
        frame.resize(n > 0 ? std::size_t(n) : 0);
        return frame;
    }

private:
    Fd fd_;
    bool bound_ = false;
};

// A broadcast UDP datagram from `mac`/`source` whose payload is `marker`.
std::vector<std::uint8_t> udp_frame(const config::MacAddress& mac, const char* source,
                                    const std::string& marker) {
    std::vector<std::uint8_t> frame(14 + 20 + 8 + marker.size());
    std::memset(frame.data(), 0xff, 6);
    std::memcpy(frame.data() + 6, mac.data(), 6);
    frame[12] = 0x08;
    frame[13] = 0x00;
    iphdr header{};
    header.version = 4;
    header.ihl = 5;
    header.ttl = 64;
    header.protocol = IPPROTO_UDP;
    header.tot_len = htons(std::uint16_t(20 + 8 + marker.size()));
    ::inet_pton(AF_INET, source, &header.saddr);
    header.daddr = 0xffffffff;
    std::uint32_t sum = 0;  // the header checksum, so nothing on the way refuses it
    auto* words = reinterpret_cast<const std::uint16_t*>(&header);
    for (int i = 0; i < 10; ++i)
        sum += words[i];
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    header.check = std::uint16_t(~sum);
    std::memcpy(frame.data() + 14, &header, sizeof header);
    udphdr udp{};
    udp.source = htons(4000);
    udp.dest = htons(4001);
    udp.len = htons(std::uint16_t(8 + marker.size()));
    std::memcpy(frame.data() + 34, &udp, sizeof udp);
    std::memcpy(frame.data() + 42, marker.data(), marker.size());
    return frame;
}

// Sends the spoofed frames, then a good one, from the guest's side; returns the markers
// that reached the bridge's other port, up to the good one (the bridge keeps order).
std::vector<std::string> frames_through_bridge(RawPort& guest, RawPort& bridge_port) {
    config::MacAddress other_mac = {0x00, 0x16, 0x3e, 0x00, 0x00, 0x66};
    EXPECT_TRUE(guest.send(udp_frame(other_mac, "10.77.0.2", "spoof-mac")));
    EXPECT_TRUE(guest.send(udp_frame(kGuestMac, "10.77.0.99", "spoof-ip")));
    EXPECT_TRUE(guest.send(udp_frame(kGuestMac, "10.77.0.2", "good")));
    std::vector<std::string> seen;
    for (int i = 0; i < 50; ++i) {
        auto frame = bridge_port.receive(2000);
        if (frame.empty()) break;
        std::string text(frame.begin(), frame.end());
        for (const char* marker : {"spoof-mac", "spoof-ip", "good"})
            if (text.find(marker) != std::string::npos) seen.push_back(marker);
        if (!seen.empty() && seen.back() == "good") break;
    }
    return seen;
}

TEST_F(VifScriptsTest, SpoofedFramesNeverReachTheBridgeWhileTheVifIsOnline) {
    veth("vif1.0", "guest0");
    auto config = vif(config::VifScript::bridge, {"10.77.0.2"});
    auto online = vif_online(config, kDomid, run_dir());
    ASSERT_TRUE(online) << online.error().message;
    EXPECT_NE(show({"link", "show", "vif1.0"}).find("master domusbr0"), std::string::npos);
    // Another port of the bridge, whose far end the test reads.
    veth("port0", "port1");
    ip({"link", "set", "port0", "master", "domusbr0"});
    RawPort guest("guest0"), port("port1");
    ASSERT_TRUE(guest.ok() && port.ok());
    EXPECT_EQ(frames_through_bridge(guest, port), std::vector<std::string>{"good"});

    // Offline: the rules go (and the spoofed frames would pass: the rules stopped them).
    vif_offline(config, kDomid, run_dir());
    EXPECT_FALSE(nft_table("bridge", "domus-vif1.0"));
    ip({"link", "set", "vif1.0", "master", "domusbr0"});
    EXPECT_EQ(frames_through_bridge(guest, port),
              (std::vector<std::string>{"spoof-mac", "spoof-ip", "good"}));
}

TEST_F(VifScriptsTest, AGuestWithoutAddressesIsHeldToItsMacOnly) {
    veth("vif1.0", "guest0");
    auto config = vif(config::VifScript::bridge, {});
    ASSERT_TRUE(vif_online(config, kDomid, run_dir()));
    auto rules = nft_table("bridge", "domus-vif1.0");
    ASSERT_TRUE(rules) << rules.error().message;
    EXPECT_NE(rules->find("ether saddr != 00:16:3e:00:00:01"), std::string::npos) << *rules;
    EXPECT_EQ(rules->find("ip saddr"), std::string::npos) << *rules;  // DHCP decides
    vif_offline(config, kDomid, run_dir());
}

TEST_F(VifScriptsTest, AMissingBridgeIsNamedButTheDefaultOneIsCreated) {
    veth("vif1.0", "guest0");
    auto config = vif(config::VifScript::bridge, {});
    config.bridge = "nosuchbr";
    auto refused = vif_online(config, kDomid, run_dir());
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("vif-bridge online vif1.0: vif-bridge: vif1.0: bridge "
                                           "\"nosuchbr\" does not exist"),
              std::string::npos)
        << refused.error().message;
    EXPECT_EQ(show({"link", "show", "domusbr0"}), "");
    config.bridge = "domusbr0";
    ASSERT_TRUE(vif_online(config, kDomid, run_dir()));
    EXPECT_NE(show({"-d", "link", "show", "domusbr0"}).find("bridge"), std::string::npos);
}

TEST_F(VifScriptsTest, ARoutedVifBorrowsTheGatewaysAddressAndLetsOnlyItsAddressesOut) {
    veth("uplink0", "uplink1");
    ip({"addr", "add", "10.200.0.1/24", "dev", "uplink0"});
    veth("vif1.2", "guest2");
    auto config = vif(config::VifScript::route, {"10.6.0.2", "10.6.1.9/24"}, 2);
    config.gatewaydev = "uplink0";
    auto online = vif_online(config, kDomid, run_dir());
    ASSERT_TRUE(online) << online.error().message;
    EXPECT_NE(show({"-4", "addr", "show", "dev", "vif1.2"}).find("inet 10.200.0.1/32"),
              std::string::npos);
    EXPECT_NE(show({"route", "show", "10.6.0.2"}).find("dev vif1.2"), std::string::npos);
    EXPECT_NE(show({"route", "show", "10.6.1.9"}).find("dev vif1.2"), std::string::npos);
    std::ifstream proxy("/proc/sys/net/ipv4/conf/vif1.2/proxy_arp");
    int proxy_arp = 0;
    proxy >> proxy_arp;
    EXPECT_EQ(proxy_arp, 1);
    auto rules = nft_table("ip", "domus-vif1.2");
    ASSERT_TRUE(rules) << rules.error().message;
    EXPECT_NE(rules->find("iifname \"vif1.2\" ip saddr != { 10.6.0.2, 10.6.1.9 }"),
              std::string::npos)
        << *rules;
    vif_offline(config, kDomid, run_dir());
    EXPECT_EQ(show({"route", "show", "10.6.0.2"}), "");
    EXPECT_FALSE(nft_table("ip", "domus-vif1.2"));
    // Without an address to borrow the script says so.
    config.gatewaydev = "guest2";
    auto refused = vif_online(config, kDomid, run_dir());
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("guest2 has no IPv4 address"), std::string::npos)
        << refused.error().message;
}

TEST_F(VifScriptsTest, ANattedVifIsItsSubnetsGatewayWithMasqueradeAndItsOwnDnsmasq) {
    if (::access("/usr/sbin/dnsmasq", X_OK) != 0) GTEST_SKIP() << "dnsmasq is not installed";
    veth("vif1.1", "guest1");
    auto config = vif(config::VifScript::nat, {"10.5.0.1/24"}, 1);
    auto online = vif_online(config, kDomid, run_dir());
    ASSERT_TRUE(online) << online.error().message;
    // The guest has the first address, so the gateway takes the second.
    EXPECT_NE(show({"-4", "addr", "show", "dev", "vif1.1"}).find("inet 10.5.0.2/24"),
              std::string::npos);
    auto rules = nft_table("ip", "domus-vif1.1");
    ASSERT_TRUE(rules) << rules.error().message;
    EXPECT_NE(rules->find("ip saddr 10.5.0.0/24 oifname != \"vif1.1\" masquerade"),
              std::string::npos)
        << *rules;
    EXPECT_NE(rules->find("iifname \"vif1.1\" ip saddr != 10.5.0.1"), std::string::npos) << *rules;
    std::string pid_file = run_dir() + "/hotplug/dnsmasq-vif1.1.pid";
    std::ifstream pid_in(pid_file);
    pid_t pid = 0;
    ASSERT_TRUE(pid_in >> pid) << pid_file;
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    comm >> name;
    EXPECT_EQ(name, "dnsmasq");
    // It hands the guest's MAC its address (dnsmasq's command line says so).
    std::ifstream cmdline_in("/proc/" + std::to_string(pid) + "/cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(cmdline_in)), {});
    EXPECT_NE(cmdline.find("--dhcp-host=00:16:3e:00:00:01,10.5.0.1"), std::string::npos);

    vif_offline(config, kDomid, run_dir());
    EXPECT_TRUE(wait_for_exit(pid, std::chrono::seconds(5)) || ::kill(pid, 0) != 0);
    EXPECT_FALSE(std::filesystem::exists(pid_file));
    EXPECT_FALSE(nft_table("ip", "domus-vif1.1"));
}

TEST_F(VifScriptsTest, WithoutNftTheMessageSaysWhichPackageIsMissing) {
    veth("vif1.0", "guest0");
    // A script directory whose PATH has ip but not nft: the scripts' own PATH is fixed,
    // so run the script with a PATH directory of links instead.
    auto bin = std::filesystem::path(run_dir()) / "bin";
    std::filesystem::create_directories(bin);
    for (const char* tool : {"sh", "ip", "dirname", "basename", "grep", "sed", "head", "cat"})
        for (const char* dir : {"/usr/sbin/", "/usr/bin/", "/bin/", "/sbin/"})
            if (::access((std::string(dir) + tool).c_str(), X_OK) == 0) {
                std::error_code ignored;
                std::filesystem::create_symlink(std::string(dir) + tool, bin / tool, ignored);
                break;
            }
    auto script_dir = std::filesystem::path(run_dir()) / "scripts";
    std::filesystem::create_directories(script_dir);
    for (const char* script : {"vif-bridge", "vif-common.sh"}) {
        std::ifstream in(default_hotplug_dir() + "/" + script);
        std::string text((std::istreambuf_iterator<char>(in)), {});
        ASSERT_FALSE(text.empty()) << default_hotplug_dir();
        auto at = text.find("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
        if (at != std::string::npos) text.replace(at, 34, "PATH=" + bin.string());
        std::ofstream(script_dir / script) << text;
        std::filesystem::permissions(script_dir / script, std::filesystem::perms::owner_all);
    }
    auto config = vif(config::VifScript::bridge, {});
    config.script_path = (script_dir / "vif-bridge").string();
    auto refused = vif_online(config, kDomid, run_dir());
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("nft is not installed (Debian package nftables)"),
              std::string::npos)
        << refused.error().message;
}

}  // namespace
}  // namespace domus::toolstack
