// NetBack: the data path of one vif, between the frontend's TX/RX rings (netif.h) and a
// FramePort on the host (the vif's TAP). Same discipline as BlkBack: each request is
// copied off the ring and checked before use, guest memory is reached only through the
// frontend's grants, and a frontend that breaks the ring protocol stops this vif alone
// (the caller closes it); a merely bad packet is answered with an error and dropped.
//
// TX (guest to host): the slots of a packet (first request, extra-info slots, more_data
// fragments) are taken whole, their grants mapped in one call, the headers copied out to
// fix the checksum field, and the frame written to the port with its offloads; every
// slot is answered in order. RX (host to guest), rx-copy: a frame read from the port is
// copied into as many posted pages as it needs (a GSO slot after the first when the
// frame is a large TCP segment), each request answered in its own slot.
// Both sides batch their notifications through the rings' event indices. A TX limit
// (xl's rate=) holds a packet over it, taken off the ring but not answered, until its
// token bucket has the packet's bytes: the guest's ring fills and it waits, nothing drops.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "backends/backend_host.hpp"
#include "backends/net/frame_port.hpp"
#include "backends/rate_limiter.hpp"
#include "backends/shared_ring.hpp"
#include "base/result.hpp"

#include <domus/abi/netif.h>

namespace domus::backends {

struct NetStats {
    std::uint64_t tx_packets = 0;  // guest to host
    std::uint64_t tx_bytes = 0;
    std::uint64_t tx_errors = 0;   // packets refused (bad slots, grants, offloads)
    std::uint64_t tx_dropped = 0;  // the host did not take them
    std::uint64_t rx_packets = 0;  // host to guest
    std::uint64_t rx_bytes = 0;
    std::uint64_t rx_errors = 0;  // frames the guest's pages could not take
    std::uint64_t notifications = 0;
    std::uint64_t tx_held = 0;  // packets that waited for the TX limit's tokens
};

// What the frontend negotiated (its feature-* keys).
struct NetFeatures {
    bool gso_tcpv4 = false;  // it takes large TCPv4 frames (a GSO slot)
    bool gso_tcpv6 = false;
    bool csum_blank = true;  // it takes frames whose checksum is not filled in
};

class NetBack {
public:
    using TxRing = BackendRing<netif_tx_sring_entry, netif_tx_request, netif_tx_response>;
    using RxRing = BackendRing<netif_rx_sring_entry, netif_rx_request, netif_rx_response>;

    // The largest frame from the host: 64 KiB of GSO frame plus its Ethernet/VLAN header.
    static constexpr std::size_t kMaxFrame = 65536 + 18;

    NetBack(DataPathHost& host, FramePort& port, std::span<std::byte> tx_area,
            std::span<std::byte> rx_area, NetFeatures features);

    // Takes every TX packet the frontend queued and sends it; false when the frontend
    // broke the ring protocol (stop serving it).
    bool transmit();
    // Moves frames from the port into the posted RX pages while there are frames and
    // pages; false when the frontend broke the ring protocol.
    bool receive();
    // True while posted RX pages wait for frames: only then is the port worth reading.
    bool wants_frames() const noexcept { return rx_slots_available_; }

    const NetStats& stats() const noexcept { return stats_; }

    // The guest's sending limit; unlimited by default. A new one applies to the packet
    // held now too.
    void set_tx_limit(TokenBucket limit) { tx_limit_ = limit; }
    // How long until the packet held by the limit may go; none when none waits. The
    // caller calls transmit() again then.
    std::optional<std::chrono::nanoseconds> tx_held_for(RateClock::time_point now);
    // The clock the limit reads (a fake one in tests).
    void set_clock(std::function<RateClock::time_point()> clock) { clock_ = std::move(clock); }

private:
    struct TxSlot {
        netif_tx_request request;
        bool extra = false;  // an extra-info slot (answered with XEN_NETIF_RSP_NULL)
    };
    enum class Take { packet, empty, broken };
    Take take_packet();
    std::int16_t send_packet();
    void answer_packet(std::int16_t status);
    bool deliver_frame(std::size_t length);
    void notify_if(bool asked);

    DataPathHost& host_;
    FramePort& port_;
    TxRing tx_;
    RxRing rx_;
    NetFeatures features_;
    NetStats stats_;
    // The packet being taken (reused, so steady state allocates nothing).
    std::vector<TxSlot> slots_;
    std::vector<netif_tx_request> fragments_;
    std::vector<grant_ref_t> refs_;
    std::vector<iovec> pieces_;
    std::unique_ptr<MappedPages> tx_pages_;
    TokenBucket tx_limit_;
    bool tx_held_ = false;  // slots_ and fragments_ are a packet waiting for tx_limit_
    std::function<RateClock::time_point()> clock_ = [] { return RateClock::now(); };
    std::array<std::byte, 256> headers_{};  // the packet's first bytes, ours to fix
    netif_extra_info gso_{};
    bool has_gso_ = false;
    // A frame read from the port that waits for enough RX pages.
    std::vector<std::byte> frame_;
    VnetHeader frame_header_{};
    std::size_t frame_length_ = 0;
    std::vector<netif_rx_request> rx_requests_;
    std::unique_ptr<MappedPages> rx_pages_;
    bool rx_slots_available_ = true;
};

}  // namespace domus::backends
