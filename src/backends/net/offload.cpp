// Header parsing and the netif <-> virtio_net_hdr offload translation.
#include "backends/net/offload.hpp"

#include <netinet/in.h>

#include <cstring>

namespace domus::backends {
namespace {

constexpr std::size_t kEthernetHeader = 14;
constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
constexpr std::uint16_t kEtherTypeIpv6 = 0x86DD;
constexpr std::uint16_t kEtherTypeVlan = 0x8100;
constexpr std::size_t kTcpChecksumField = 16;
constexpr std::size_t kUdpChecksumField = 6;

std::uint16_t be16(std::span<const std::byte> bytes, std::size_t at) {
    return std::uint16_t(std::uint16_t(bytes[at]) << 8 | std::uint16_t(bytes[at + 1]));
}

std::uint8_t byte_at(std::span<const std::byte> bytes, std::size_t at) {
    return std::uint8_t(bytes[at]);
}

// One's-complement sum of big-endian 16-bit words, not yet folded.
std::uint32_t sum_words(std::span<const std::byte> bytes, std::size_t at, std::size_t length,
                        std::uint32_t sum = 0) {
    for (std::size_t i = 0; i + 1 < length; i += 2)
        sum += be16(bytes, at + i);
    if (length & 1) sum += std::uint32_t(byte_at(bytes, at + length - 1)) << 8;
    return sum;
}

std::uint16_t fold(std::uint32_t sum) {
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return std::uint16_t(sum);
}

}  // namespace

Result<FrameLayout> parse_frame(std::span<const std::byte> headers) {
    FrameLayout layout;
    if (headers.size() < kEthernetHeader)
        return make_error("frame shorter than its Ethernet header");
    std::size_t at = 12;
    std::uint16_t type = be16(headers, at);
    at += 2;
    if (type == kEtherTypeVlan) {
        if (headers.size() < at + 4) return make_error("VLAN tag cut short");
        type = be16(headers, at + 2);
        at += 4;
    }
    layout.l3 = at;
    if (type == kEtherTypeIpv4) {
        if (headers.size() < at + 20) return make_error("IPv4 header cut short");
        std::uint8_t version_ihl = byte_at(headers, at);
        std::size_t ihl = std::size_t(version_ihl & 0x0f) * 4;
        if ((version_ihl >> 4) != 4 || ihl < 20) return make_error("not an IPv4 header");
        if (headers.size() < at + ihl) return make_error("IPv4 options cut short");
        if (be16(headers, at + 6) & 0x3fff) return make_error("an IPv4 fragment");
        layout.protocol = byte_at(headers, at + 9);
        layout.l4 = at + ihl;
    } else if (type == kEtherTypeIpv6) {
        if (headers.size() < at + 40) return make_error("IPv6 header cut short");
        if ((byte_at(headers, at) >> 4) != 6) return make_error("not an IPv6 header");
        layout.ipv6 = true;
        std::uint8_t next = byte_at(headers, at + 6);
        std::size_t l4 = at + 40;
        // Extension headers before the transport header (at most a few, each bounded).
        for (int hops = 0; hops < 8 && (next == 0 || next == 43 || next == 60); ++hops) {
            if (headers.size() < l4 + 8) return make_error("IPv6 extension header cut short");
            next = byte_at(headers, l4);
            l4 += (std::size_t(byte_at(headers, l4 + 1)) + 1) * 8;
        }
        layout.protocol = next;
        layout.l4 = l4;
    } else {
        return make_error("EtherType {:#06x} is not IP", type);
    }
    if (layout.protocol == IPPROTO_TCP) {
        if (headers.size() < layout.l4 + 20) return make_error("TCP header cut short");
        layout.l4_header = std::size_t(byte_at(headers, layout.l4 + 12) >> 4) * 4;
        if (layout.l4_header < 20) return make_error("TCP data offset below 5");
        if (headers.size() < layout.l4 + layout.l4_header)
            return make_error("TCP options cut short");
    } else if (layout.protocol == IPPROTO_UDP) {
        if (headers.size() < layout.l4 + 8) return make_error("UDP header cut short");
        layout.l4_header = 8;
    } else {
        return make_error("IP protocol {} is not TCP or UDP", layout.protocol);
    }
    return layout;
}

Result<VnetHeader> tx_offload(std::span<std::byte> headers, std::size_t packet_size,
                              std::uint16_t netif_flags, const netif_extra_info* gso) {
    VnetHeader out;
    bool blank = netif_flags & NETTXF_csum_blank;
    if (gso && gso->u.gso.type != XEN_NETIF_GSO_TYPE_NONE) {
        blank = true;  // a segmented packet's checksums are always the host's to fill
        std::uint8_t type = gso->u.gso.type;
        if (type != XEN_NETIF_GSO_TYPE_TCPV4 && type != XEN_NETIF_GSO_TYPE_TCPV6)
            return make_error("GSO type {} is not TCPv4 or TCPv6", type);
        if (gso->u.gso.size == 0) return make_error("GSO with a segment size of 0");
        out.gso_type = type == XEN_NETIF_GSO_TYPE_TCPV4 ? kVnetGsoTcpv4 : kVnetGsoTcpv6;
        out.gso_size = gso->u.gso.size;
    }
    if (!blank) {
        if (netif_flags & NETTXF_data_validated) out.flags = kVnetDataValid;
        return out;
    }
    DOMUS_TRY(layout, parse_frame(headers));
    if (out.gso_type != kVnetGsoNone) {
        if (layout.protocol != IPPROTO_TCP) return make_error("GSO on a packet that is not TCP");
        if (layout.ipv6 != (out.gso_type == kVnetGsoTcpv6))
            return make_error("GSO type does not match the packet's IP version");
        out.header_length = std::uint16_t(layout.l4 + layout.l4_header);
    }
    if (packet_size < layout.l4 + layout.l4_header || packet_size > 0xFFFF + kEthernetHeader + 4)
        return make_error("packet of {} bytes is shorter than its headers or too long",
                          packet_size);
    std::size_t field =
        layout.l4 + (layout.protocol == IPPROTO_TCP ? kTcpChecksumField : kUdpChecksumField);
    // The pseudo-header sum: addresses, protocol and the L4 length.
    std::uint32_t l4_length = std::uint32_t(packet_size - layout.l4);
    std::uint32_t sum =
        layout.ipv6 ? sum_words(headers, layout.l3 + 8, 32) : sum_words(headers, layout.l3 + 12, 8);
    sum += layout.protocol;
    sum += l4_length >> 16;
    sum += l4_length & 0xffff;
    std::uint16_t pseudo = fold(sum);
    headers[field] = std::byte(pseudo >> 8);
    headers[field + 1] = std::byte(pseudo & 0xff);
    out.flags = kVnetNeedsChecksum;
    out.checksum_start = std::uint16_t(layout.l4);
    out.checksum_offset = std::uint16_t(field - layout.l4);
    return out;
}

Result<RxOffload> rx_offload(const VnetHeader& header, bool frontend_takes_gso_v4,
                             bool frontend_takes_gso_v6) {
    RxOffload out;
    if (header.flags & kVnetNeedsChecksum)
        out.netif_flags |= NETRXF_csum_blank | NETRXF_data_validated;
    else if (header.flags & kVnetDataValid)
        out.netif_flags |= NETRXF_data_validated;
    std::uint8_t type = header.gso_type & std::uint8_t(~kVnetGsoEcn);
    if (type == kVnetGsoNone) return out;
    bool v4 = type == kVnetGsoTcpv4;
    if (!v4 && type != kVnetGsoTcpv6)
        return make_error("GSO type {} from the host cannot be given to the guest", type);
    if ((v4 && !frontend_takes_gso_v4) || (!v4 && !frontend_takes_gso_v6))
        return make_error("the frontend takes no {} GSO", v4 ? "TCPv4" : "TCPv6");
    netif_extra_info extra{};
    extra.type = XEN_NETIF_EXTRA_TYPE_GSO;
    extra.u.gso.size = header.gso_size;
    extra.u.gso.type = v4 ? XEN_NETIF_GSO_TYPE_TCPV4 : XEN_NETIF_GSO_TYPE_TCPV6;
    out.gso = extra;
    out.netif_flags |= NETRXF_extra_info;
    return out;
}

}  // namespace domus::backends
