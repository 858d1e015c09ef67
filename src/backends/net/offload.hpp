// Offload translation between netif (the guest's flags and GSO extra-info slots) and the
// virtio_net_hdr the TAP speaks, as Linux netback's checksum_setup does. The packet's
// headers are the guest's, untrusted: they are parsed from netback's own copy, every
// length checked against what was copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "backends/net/vnet_header.hpp"
#include "base/result.hpp"

#include <domus/abi/netif.h>

namespace domus::backends {

// Where a frame's headers are: Ethernet (with at most one VLAN tag), IPv4 or IPv6 (with
// hop-by-hop, routing, destination-options extension headers), TCP or UDP.
struct FrameLayout {
    std::size_t l3 = 0;  // offset of the IP header
    std::size_t l4 = 0;  // offset of the TCP/UDP header
    bool ipv6 = false;
    std::uint8_t protocol = 0;  // IPPROTO_TCP or IPPROTO_UDP
    std::size_t l4_header = 0;  // TCP: data offset * 4; UDP: 8
};

// Parses the headers within `headers` (the frame's first bytes, as copied); fails for a
// frame that is not TCP or UDP over IP, or whose headers do not fit.
Result<FrameLayout> parse_frame(std::span<const std::byte> headers);

// The first `headers` bytes of a TX packet (netback's copy; the checksum field may be
// rewritten) with the request's NETTXF_* flags and its GSO extra-info slot, if any, into
// the header the TAP wants. csum_blank: the L4 checksum is left to the host, and its
// field gets the pseudo-header sum (a guest's may be anything, as Linux netback assumes).
// `packet_size` is the whole packet's length, for the pseudo-header's L4 length.
Result<VnetHeader> tx_offload(std::span<std::byte> headers, std::size_t packet_size,
                              std::uint16_t netif_flags, const netif_extra_info* gso);

// What a frame from the TAP tells the guest: NETRXF_* flags, and a GSO extra-info slot
// when it is larger than one segment (nothing when the frontend cannot take GSO).
struct RxOffload {
    std::uint16_t netif_flags = 0;
    std::optional<netif_extra_info> gso;
};
Result<RxOffload> rx_offload(const VnetHeader& header, bool frontend_takes_gso_v4,
                             bool frontend_takes_gso_v6);

}  // namespace domus::backends
