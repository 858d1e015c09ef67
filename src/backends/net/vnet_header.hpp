// The virtio_net_hdr a TAP opened with IFF_VNET_HDR puts before each frame: checksum and
// segmentation offload between netback and the host kernel. <linux/virtio_net.h> does
// not compile as C++ (a field named `class`), so its layout is restated here.
#pragma once

#include <cstdint>

namespace domus::backends {

struct VnetHeader {
    std::uint8_t flags = 0;  // kNeedsChecksum, kDataValid
    std::uint8_t gso_type = 0;
    std::uint16_t header_length = 0;    // Ethernet + IP + TCP headers of a GSO frame
    std::uint16_t gso_size = 0;         // segment payload (the MSS)
    std::uint16_t checksum_start = 0;   // where the sum starts ...
    std::uint16_t checksum_offset = 0;  // ... and where after that it goes
};
static_assert(sizeof(VnetHeader) == 10, "virtio_net_hdr layout");

inline constexpr std::uint8_t kVnetNeedsChecksum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
inline constexpr std::uint8_t kVnetDataValid = 2;      // VIRTIO_NET_HDR_F_DATA_VALID
inline constexpr std::uint8_t kVnetGsoNone = 0;
inline constexpr std::uint8_t kVnetGsoTcpv4 = 1;
inline constexpr std::uint8_t kVnetGsoUdp = 3;
inline constexpr std::uint8_t kVnetGsoTcpv6 = 4;
inline constexpr std::uint8_t kVnetGsoEcn = 0x80;

}  // namespace domus::backends
