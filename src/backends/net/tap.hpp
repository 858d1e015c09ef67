// Tap: the host side of a vif, a TAP interface netback reads and writes whole Ethernet
// frames on. Opened with IFF_VNET_HDR, so every frame carries a virtio_net_hdr: checksum
// offload and TSO/GSO pass to and from the host kernel instead of being done in software.
// Not persistent: the interface goes when the fd closes, so a dead monitor leaks none.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <span>
#include <string>

#include "backends/net/frame_port.hpp"
#include "base/fd.hpp"
#include "base/result.hpp"

namespace domus::backends {

class Tap final : public FramePort {
public:
    // Creates interface `name` (≤ 15 bytes), sets its MTU and brings it up, with no
    // offloads yet: the host finishes every frame it sends (checksums, segmentation).
    // Takes the one made by make() and passed with the request at hand instead, if there
    // is one (a hot-plug's, for a monitor with no privileges left: base/host_files.hpp).
    static Result<Tap> create(const std::string& name, std::uint32_t mtu);
    // Makes the interface as create() would and returns its fd (needs CAP_NET_ADMIN).
    static Result<Fd> make(const std::string& name, std::uint32_t mtu);
    // How a made TAP is named among passed files.
    static std::string passed_name(const std::string& name) { return "tap:" + name; }
    // What the host may leave to the reader of its frames, as the frontend can take it:
    // checksums (TUN_F_CSUM), and large TCP segments (TSO4, TSO6; they need checksums).
    Result<void> set_offloads(bool checksum, bool tso4, bool tso6);

    int fd() const noexcept { return fd_.get(); }
    const std::string& name() const noexcept { return name_; }
    int ifindex() const noexcept { return ifindex_; }

    // The most pieces one frame may come in (a packet's slots, and its copied headers).
    static constexpr std::size_t kMaxPieces = 32;

    // One frame out, header first: true when sent, false when the queue is full (EAGAIN:
    // try again when writable); an error for a frame the kernel refuses.
    Result<bool> send(const VnetHeader& header, std::span<const iovec> frame) override;
    // One frame in, its header into `header` and the rest into `buffer`: the frame's
    // length, 0 when none is waiting.
    Result<std::size_t> receive(VnetHeader& header, std::span<std::byte> buffer) override;

private:
    Tap(Fd fd, std::string name, int ifindex)
        : fd_(std::move(fd)), name_(std::move(name)), ifindex_(ifindex) {}

    Fd fd_;
    std::string name_;
    int ifindex_ = 0;
};

}  // namespace domus::backends
