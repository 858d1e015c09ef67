// netif <-> virtio_net_hdr offloads: header parsing, the pseudo-header checksum a
// checksum-blank packet gets (completed here in software and compared with a full
// checksum), GSO, and the refusals of malformed or mismatched packets.
#include "backends/net/offload.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <vector>

namespace domus::backends {
namespace {

using Bytes = std::vector<std::byte>;

void put16(Bytes& b, std::size_t at, std::uint16_t v) {
    b[at] = std::byte(v >> 8);
    b[at + 1] = std::byte(v & 0xff);
}

std::uint16_t get16(const Bytes& b, std::size_t at) {
    return std::uint16_t(std::uint16_t(b[at]) << 8 | std::uint16_t(b[at + 1]));
}

// Ethernet, optional VLAN, IPv4 or IPv6, then TCP (20 bytes) or UDP, then `payload` bytes.
Bytes frame(bool ipv6, std::uint8_t protocol, std::size_t payload, bool vlan = false) {
    Bytes b(14);
    std::size_t at = 12;
    if (vlan) {
        b.resize(18);
        put16(b, 12, 0x8100);
        put16(b, 14, 5);
        at = 16;
    }
    put16(b, at, ipv6 ? 0x86DD : 0x0800);
    std::size_t l3 = b.size();
    std::size_t l4_header = protocol == IPPROTO_TCP ? 20 : 8;
    std::size_t l3_header = ipv6 ? 40 : 20;
    b.resize(l3 + l3_header + l4_header + payload);
    if (ipv6) {
        b[l3] = std::byte(0x60);
        put16(b, l3 + 4, std::uint16_t(l4_header + payload));
        b[l3 + 6] = std::byte(protocol);
        for (int i = 0; i < 32; ++i)
            b[l3 + 8 + i] = std::byte(0x20 + i);
    } else {
        b[l3] = std::byte(0x45);
        put16(b, l3 + 2, std::uint16_t(20 + l4_header + payload));
        b[l3 + 9] = std::byte(protocol);
        for (int i = 0; i < 8; ++i)
            b[l3 + 12 + i] = std::byte(10 + i);
    }
    std::size_t l4 = l3 + l3_header;
    if (protocol == IPPROTO_TCP) b[l4 + 12] = std::byte(5 << 4);
    if (protocol == IPPROTO_UDP) put16(b, l4 + 4, std::uint16_t(8 + payload));
    for (std::size_t i = 0; i < payload; ++i)
        b[l4 + l4_header + i] = std::byte(i * 7 + 1);
    return b;
}

// The L4 checksum computed from scratch (pseudo-header, header with a zero field, data).
std::uint16_t full_checksum(Bytes b, const FrameLayout& layout, std::size_t field) {
    b[field] = b[field + 1] = std::byte(0);
    std::uint32_t sum = 0;
    auto add = [&](std::size_t at, std::size_t length) {
        for (std::size_t i = 0; i < length; i += 2)
            sum += i + 1 < length ? get16(b, at + i) : std::uint32_t(b[at + i]) << 8;
    };
    if (layout.ipv6)
        add(layout.l3 + 8, 32);
    else
        add(layout.l3 + 12, 8);
    sum += layout.protocol + std::uint32_t(b.size() - layout.l4);
    add(layout.l4, b.size() - layout.l4);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return std::uint16_t(~sum);
}

// What the host does with NEEDS_CSUM: sum from checksum_start (the field holds the
// pseudo-header sum) and store the complement.
std::uint16_t completed_checksum(const Bytes& b, const VnetHeader& h) {
    std::uint32_t sum = 0;
    for (std::size_t i = h.checksum_start; i < b.size(); i += 2)
        sum += i + 1 < b.size() ? get16(b, i) : std::uint32_t(b[i]) << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return std::uint16_t(~sum);
}

TEST(OffloadTest, ChecksumBlankPacketsGetThePseudoHeaderSumForTheHost) {
    struct Case {
        bool ipv6;
        std::uint8_t protocol;
        std::size_t payload;
        bool vlan;
    };
    for (const Case& c : {Case{false, IPPROTO_TCP, 100, false}, Case{false, IPPROTO_UDP, 33, false},
                          Case{true, IPPROTO_TCP, 1000, false}, Case{true, IPPROTO_UDP, 7, true},
                          Case{false, IPPROTO_TCP, 0, true}}) {
        Bytes b = frame(c.ipv6, c.protocol, c.payload, c.vlan);
        put16(b, b.size() - c.payload - (c.protocol == IPPROTO_TCP ? 4 : 2), 0xdead);  // junk
        auto layout = parse_frame(b);
        ASSERT_TRUE(layout) << layout.error().message;
        std::size_t field = layout->l4 + (c.protocol == IPPROTO_TCP ? 16 : 6);
        std::uint16_t want = full_checksum(b, *layout, field);
        auto header = tx_offload(b, b.size(), NETTXF_csum_blank, nullptr);
        ASSERT_TRUE(header) << header.error().message;
        EXPECT_EQ(header->flags, kVnetNeedsChecksum);
        EXPECT_EQ(header->checksum_start, layout->l4);
        EXPECT_EQ(header->checksum_start + header->checksum_offset, field);
        EXPECT_EQ(completed_checksum(b, *header), want)
            << "ipv6 " << c.ipv6 << " proto " << int(c.protocol);
    }
}

TEST(OffloadTest, ValidatedAndPlainPacketsNeedNoParsing) {
    Bytes junk(3);  // not even an Ethernet header: nothing to look at
    auto validated = tx_offload(junk, junk.size(), NETTXF_data_validated, nullptr);
    ASSERT_TRUE(validated);
    EXPECT_EQ(validated->flags, kVnetDataValid);
    auto plain = tx_offload(junk, junk.size(), 0, nullptr);
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->flags, 0);
}

TEST(OffloadTest, GsoBecomesTheHostsSegmentation) {
    Bytes b = frame(false, IPPROTO_TCP, 3000);
    netif_extra_info gso{};
    gso.type = XEN_NETIF_EXTRA_TYPE_GSO;
    gso.u.gso.type = XEN_NETIF_GSO_TYPE_TCPV4;
    gso.u.gso.size = 1448;
    auto header = tx_offload(b, b.size(), 0, &gso);  // checksum implied
    ASSERT_TRUE(header) << header.error().message;
    EXPECT_EQ(header->gso_type, kVnetGsoTcpv4);
    EXPECT_EQ(header->gso_size, 1448);
    EXPECT_EQ(header->header_length, 14 + 20 + 20);
    EXPECT_EQ(header->flags, kVnetNeedsChecksum);

    // Mismatches and nonsense are refused, the reason said.
    gso.u.gso.type = XEN_NETIF_GSO_TYPE_TCPV6;
    auto wrong_version = tx_offload(b, b.size(), 0, &gso);
    ASSERT_FALSE(wrong_version);
    EXPECT_NE(wrong_version.error().message.find("IP version"), std::string::npos);
    Bytes udp = frame(false, IPPROTO_UDP, 100);
    gso.u.gso.type = XEN_NETIF_GSO_TYPE_TCPV4;
    EXPECT_FALSE(tx_offload(udp, udp.size(), 0, &gso));
    gso.u.gso.size = 0;
    EXPECT_FALSE(tx_offload(b, b.size(), 0, &gso));
    gso.u.gso.size = 1000;
    gso.u.gso.type = 9;
    EXPECT_FALSE(tx_offload(b, b.size(), 0, &gso));
}

TEST(OffloadTest, MalformedHeadersAreRefusedNotReadPast) {
    Bytes b = frame(false, IPPROTO_TCP, 10);
    for (std::size_t cut = 0; cut < 14 + 20 + 20; ++cut) {
        Bytes shorter(b.begin(), b.begin() + std::ptrdiff_t(cut));
        EXPECT_FALSE(tx_offload(shorter, b.size(), NETTXF_csum_blank, nullptr)) << cut;
    }
    Bytes options = b;
    options[14] = std::byte(0x4f);  // IHL 15: 60 bytes of header, not there
    EXPECT_FALSE(parse_frame(std::span(options).first(14 + 40)));
    Bytes offset = b;
    offset[14 + 20 + 12] = std::byte(0x40);  // TCP data offset 4
    EXPECT_FALSE(parse_frame(offset));
    Bytes fragment = b;
    put16(fragment, 14 + 6, 0x2000);  // more fragments
    EXPECT_FALSE(parse_frame(fragment));
    Bytes icmp = frame(false, IPPROTO_ICMP, 0);
    icmp.resize(14 + 20 + 20);
    auto refused = parse_frame(icmp);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("not TCP or UDP"), std::string::npos);
    Bytes arp(60);
    put16(arp, 12, 0x0806);
    EXPECT_FALSE(parse_frame(arp));
    // A packet shorter than its own headers.
    EXPECT_FALSE(tx_offload(b, 20, NETTXF_csum_blank, nullptr));
}

TEST(OffloadTest, IPv6ExtensionHeadersAreSkipped) {
    Bytes b = frame(true, IPPROTO_UDP, 4);
    std::size_t l3 = 14;
    // Insert an 8-byte hop-by-hop header before UDP.
    Bytes hop(8);
    hop[0] = std::byte(IPPROTO_UDP);
    b.insert(b.begin() + std::ptrdiff_t(l3 + 40), hop.begin(), hop.end());
    b[l3 + 6] = std::byte(0);
    auto layout = parse_frame(b);
    ASSERT_TRUE(layout) << layout.error().message;
    EXPECT_EQ(layout->l4, l3 + 48);
    EXPECT_EQ(layout->protocol, IPPROTO_UDP);
}

TEST(OffloadTest, HostFramesTellTheGuestWhatIsDone) {
    VnetHeader partial;
    partial.flags = kVnetNeedsChecksum;
    auto blank = rx_offload(partial, true, true);
    ASSERT_TRUE(blank);
    EXPECT_EQ(blank->netif_flags, NETRXF_csum_blank | NETRXF_data_validated);
    EXPECT_FALSE(blank->gso);

    VnetHeader valid;
    valid.flags = kVnetDataValid;
    EXPECT_EQ(rx_offload(valid, false, false)->netif_flags, NETRXF_data_validated);

    VnetHeader tso;
    tso.flags = kVnetNeedsChecksum;
    tso.gso_type = kVnetGsoTcpv6 | kVnetGsoEcn;
    tso.gso_size = 1440;
    auto large = rx_offload(tso, false, true);
    ASSERT_TRUE(large);
    ASSERT_TRUE(large->gso);
    EXPECT_EQ(large->gso->type, XEN_NETIF_EXTRA_TYPE_GSO);
    EXPECT_EQ(large->gso->u.gso.type, XEN_NETIF_GSO_TYPE_TCPV6);
    EXPECT_EQ(large->gso->u.gso.size, 1440);
    EXPECT_TRUE(large->netif_flags & NETRXF_extra_info);
    EXPECT_FALSE(rx_offload(tso, true, false));  // a frontend without TCPv6 GSO
    VnetHeader udp;
    udp.gso_type = kVnetGsoUdp;
    EXPECT_FALSE(rx_offload(udp, true, true));
}

}  // namespace
}  // namespace domus::backends
