// Tap against the host kernel's real network stack, in a network namespace of the test's
// own: frames written with a VnetHeader reach a socket (with the checksum left to the
// kernel), and the host's frames come out with theirs.
#include "backends/net/tap.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <fstream>

namespace domus::backends {
namespace {

constexpr std::uint16_t kPort = 7777;

class TapTest : public ::testing::Test {
protected:
    void SetUp() override {
        // A namespace of our own: no name clash with other tests, nothing left behind.
        if (::unshare(CLONE_NEWNET) != 0) GTEST_SKIP() << "no network namespace: " << errno;
        // No IPv6 on the new links: its neighbour discovery would add frames of its own.
        std::ofstream("/proc/sys/net/ipv6/conf/default/disable_ipv6") << "1";
        auto tap = Tap::create("vif9.0", 1500);
        ASSERT_TRUE(tap) << tap.error().message;
        tap_.emplace(std::move(*tap));
        ASSERT_TRUE(tap_->set_offloads(true, true, true));
        control_ = Fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        // The host's end: 10.9.0.1/24 on the tap; the "guest" is 10.9.0.2.
        ifreq request{};
        std::strcpy(request.ifr_name, "vif9.0");
        auto* address = reinterpret_cast<sockaddr_in*>(&request.ifr_addr);
        address->sin_family = AF_INET;
        ::inet_pton(AF_INET, "10.9.0.1", &address->sin_addr);
        ASSERT_EQ(::ioctl(control_.get(), SIOCSIFADDR, &request), 0) << errno;
        ::inet_pton(AF_INET, "255.255.255.0", &address->sin_addr);
        ASSERT_EQ(::ioctl(control_.get(), SIOCSIFNETMASK, &request), 0) << errno;
        ASSERT_EQ(::ioctl(control_.get(), SIOCGIFHWADDR, &request), 0) << errno;
        std::memcpy(host_mac_.data(), request.ifr_hwaddr.sa_data, 6);
    }

    // An Ethernet + IPv4 + UDP frame from the guest (10.9.0.2) to the host, payload
    // `text`, with the UDP checksum left blank for the kernel (NEEDS_CSUM).
    std::vector<std::byte> guest_frame(const std::string& text, VnetHeader& header) {
        std::vector<std::byte> frame(14 + 20 + 8 + text.size());
        auto* bytes = reinterpret_cast<std::uint8_t*>(frame.data());
        std::memcpy(bytes, host_mac_.data(), 6);
        std::memcpy(bytes + 6, kGuestMac.data(), 6);
        bytes[12] = 0x08;  // IPv4
        // Built in aligned locals, then copied: in the frame they sit at odd offsets.
        iphdr ip{};
        ip.version = 4;
        ip.ihl = 5;
        ip.tot_len = htons(std::uint16_t(20 + 8 + text.size()));
        ip.ttl = 64;
        ip.protocol = IPPROTO_UDP;
        ::inet_pton(AF_INET, "10.9.0.2", &ip.saddr);
        ::inet_pton(AF_INET, "10.9.0.1", &ip.daddr);
        std::uint16_t words[10];
        std::memcpy(words, &ip, sizeof words);
        std::uint32_t sum = 0;
        for (std::uint16_t word : words)
            sum += word;
        while (sum >> 16)
            sum = (sum & 0xffff) + (sum >> 16);
        ip.check = std::uint16_t(~sum);
        udphdr udp{};
        udp.source = htons(1234);
        udp.dest = htons(kPort);
        udp.len = htons(std::uint16_t(8 + text.size()));
        // The pseudo-header sum goes in the checksum field; the kernel adds the rest.
        std::uint32_t pseudo = (ip.saddr & 0xffff) + (ip.saddr >> 16) + (ip.daddr & 0xffff) +
                               (ip.daddr >> 16) + htons(IPPROTO_UDP) + udp.len;
        while (pseudo >> 16)
            pseudo = (pseudo & 0xffff) + (pseudo >> 16);
        udp.check = std::uint16_t(pseudo);
        std::memcpy(bytes + 14, &ip, sizeof ip);
        std::memcpy(bytes + 34, &udp, sizeof udp);
        std::memcpy(bytes + 42, text.data(), text.size());
        header = {};
        header.flags = kVnetNeedsChecksum;
        header.checksum_start = 34;
        header.checksum_offset = offsetof(udphdr, check);
        return frame;
    }

    static constexpr std::array<std::uint8_t, 6> kGuestMac = {0x00, 0x16, 0x3e, 0, 0, 2};
    std::optional<Tap> tap_;
    Fd control_;
    std::array<std::uint8_t, 6> host_mac_{};
};

TEST_F(TapTest, AFrameWithItsChecksumLeftToTheHostReachesASocket) {
    Fd socket(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in bound{};
    bound.sin_family = AF_INET;
    bound.sin_port = htons(kPort);
    ::inet_pton(AF_INET, "10.9.0.1", &bound.sin_addr);
    ASSERT_EQ(::bind(socket.get(), reinterpret_cast<sockaddr*>(&bound), sizeof bound), 0) << errno;

    VnetHeader header;
    auto frame = guest_frame("hello from the guest", header);
    iovec piece{frame.data(), frame.size()};
    auto sent = tap_->send(header, {&piece, 1});
    ASSERT_TRUE(sent) << sent.error().message;
    EXPECT_TRUE(*sent);

    pollfd ready{socket.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&ready, 1, 5000), 1);
    char text[64] = {};
    ASSERT_EQ(::recv(socket.get(), text, sizeof text, 0), 20);
    EXPECT_STREQ(text, "hello from the guest");
}

TEST_F(TapTest, TheHostsFramesComeOutWithTheirHeader) {
    // The guest's address is known (as the vif's ip= makes it), so no ARP is needed.
    arpreq neighbour{};
    auto* address = reinterpret_cast<sockaddr_in*>(&neighbour.arp_pa);
    address->sin_family = AF_INET;
    ::inet_pton(AF_INET, "10.9.0.2", &address->sin_addr);
    neighbour.arp_ha.sa_family = ARPHRD_ETHER;
    std::memcpy(neighbour.arp_ha.sa_data, kGuestMac.data(), 6);
    neighbour.arp_flags = ATF_COM | ATF_PERM;
    std::strcpy(neighbour.arp_dev, "vif9.0");
    ASSERT_EQ(::ioctl(control_.get(), SIOCSARP, &neighbour), 0) << errno;

    Fd socket(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(kPort);
    ::inet_pton(AF_INET, "10.9.0.2", &to.sin_addr);
    std::string text(3000, 'x');  // larger than the MTU: fragments, each a frame
    ASSERT_EQ(::sendto(socket.get(), text.data(), text.size(), 0, reinterpret_cast<sockaddr*>(&to),
                       sizeof to),
              ssize_t(text.size()));

    std::vector<std::byte> buffer(65536);
    VnetHeader header{};
    std::size_t total_payload = 0;
    for (int frames = 0; frames < 8 && total_payload < text.size() + 8; ++frames) {
        pollfd ready{tap_->fd(), POLLIN, 0};
        ASSERT_EQ(::poll(&ready, 1, 5000), 1);
        auto length = tap_->receive(header, buffer);
        ASSERT_TRUE(length) << length.error().message;
        ASSERT_GE(*length, 34u);
        auto* bytes = reinterpret_cast<std::uint8_t*>(buffer.data());
        EXPECT_EQ(std::memcmp(bytes, kGuestMac.data(), 6), 0);  // to the guest
        ASSERT_EQ(bytes[12], 0x08);
        iphdr ip{};
        std::memcpy(&ip, bytes + 14, sizeof ip);  // at an odd offset in the frame
        total_payload += ntohs(ip.tot_len) - ip.ihl * 4u;
    }
    EXPECT_EQ(total_payload, text.size() + 8);  // every byte of the datagram, and its header
    // Nothing more waiting: receive says so instead of blocking.
    auto none = tap_->receive(header, buffer);
    ASSERT_TRUE(none);
    EXPECT_EQ(*none, 0u);
}

TEST(TapNames, ANameLongerThanTheKernelTakesIsRefused) {
    auto tap = Tap::create("a-name-too-long-for-linux", 1500);
    ASSERT_FALSE(tap);
    EXPECT_NE(tap.error().message.find("1..15 characters"), std::string::npos);
}

}  // namespace
}  // namespace domus::backends
