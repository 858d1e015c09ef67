// TAP interfaces through /dev/net/tun (Documentation/networking/tuntap.rst).
#include "backends/net/tap.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "base/host_files.hpp"

namespace domus::backends {

Result<Fd> Tap::make(const std::string& name, std::uint32_t mtu) {
    if (name.empty() || name.size() >= IFNAMSIZ)
        return make_error("tap \"{}\": an interface name has 1..{} characters", name, IFNAMSIZ - 1);
    DOMUS_TRY(fd, HostFiles::process().open("/dev/net/tun", O_RDWR | O_NONBLOCK));
    ifreq request{};
    std::memcpy(request.ifr_name, name.data(), name.size());
    request.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (::ioctl(fd.get(), TUNSETIFF, &request) < 0)
        return errno_error(fmt::format("tap {}: TUNSETIFF", name));
    int header_size = sizeof(VnetHeader);
    if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &header_size) < 0)
        return errno_error(fmt::format("tap {}: TUNSETVNETHDRSZ", name));
    if (::ioctl(fd.get(), TUNSETOFFLOAD, 0u) < 0)
        return errno_error(fmt::format("tap {}: TUNSETOFFLOAD", name));

    // MTU, up, and the index, through a socket of this network namespace: a UNIX one
    // does (the kernel hands interface ioctls of any family to the device layer), so
    // the sandboxed monitor of `domus run` can make a hot-plugged vif's TAP without a
    // network socket.
    Fd control(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!control) return errno_error("socket");
    ifreq link{};
    std::memcpy(link.ifr_name, name.data(), name.size());
    link.ifr_mtu = int(mtu);
    if (::ioctl(control.get(), SIOCSIFMTU, &link) < 0)
        return errno_error(fmt::format("tap {}: MTU {}", name, mtu));
    // fe:ff:ff:ff:ff:ff, as Xen's netback: the host side never sends with an address of
    // its own, and a bridge never adopts it (the highest possible) as its own.
    link.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    std::memset(link.ifr_hwaddr.sa_data, 0xff, 6);
    link.ifr_hwaddr.sa_data[0] = char(0xfe);
    if (::ioctl(control.get(), SIOCSIFHWADDR, &link) < 0)
        return errno_error(fmt::format("tap {}: hardware address", name));
    if (::ioctl(control.get(), SIOCGIFFLAGS, &link) < 0)
        return errno_error(fmt::format("tap {}: SIOCGIFFLAGS", name));
    link.ifr_flags = short(link.ifr_flags | IFF_UP);
    if (::ioctl(control.get(), SIOCSIFFLAGS, &link) < 0)
        return errno_error(fmt::format("tap {}: up", name));
    return fd;
}

Result<Tap> Tap::create(const std::string& name, std::uint32_t mtu) {
    auto passed = HostFiles::process().take(passed_name(name));
    Fd fd;
    if (passed) {
        fd = std::move(passed).value();
    } else {
        DOMUS_TRY(made, make(name, mtu));
        fd = std::move(made);
    }
    // Its index needs no privilege.
    Fd control(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!control) return errno_error("socket");
    ifreq link{};
    std::memcpy(link.ifr_name, name.data(), std::min(name.size(), sizeof(link.ifr_name) - 1));
    if (::ioctl(control.get(), SIOCGIFINDEX, &link) < 0)
        return errno_error(fmt::format("tap {}: SIOCGIFINDEX", name));
    return Tap(std::move(fd), name, link.ifr_ifindex);
}

Result<void> Tap::set_offloads(bool checksum, bool tso4, bool tso6) {
    unsigned features = 0;
    if (checksum) {
        features |= TUN_F_CSUM;
        if (tso4) features |= TUN_F_TSO4;
        if (tso6) features |= TUN_F_TSO6;
    }
    if (::ioctl(fd_.get(), TUNSETOFFLOAD, features) < 0)
        return errno_error(fmt::format("tap {}: TUNSETOFFLOAD {:#x}", name_, features));
    return {};
}

Result<bool> Tap::send(const VnetHeader& header, std::span<const iovec> frame) {
    // The header and a packet's pieces, on the stack: nothing allocated per frame.
    iovec pieces[kMaxPieces + 1];
    if (frame.size() > kMaxPieces)
        return make_error("tap {}: a frame of {} pieces (at most {})", name_, frame.size(),
                          kMaxPieces);
    pieces[0] = {const_cast<VnetHeader*>(&header), sizeof header};
    std::copy(frame.begin(), frame.end(), pieces + 1);
    for (;;) {
        ssize_t n = ::writev(fd_.get(), pieces, int(frame.size() + 1));
        if (n >= 0) return true;  // a tap takes a frame whole or not at all
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return false;
        return errno_error(fmt::format("tap {}: send", name_));
    }
}

Result<std::size_t> Tap::receive(VnetHeader& header, std::span<std::byte> buffer) {
    iovec pieces[2] = {{&header, sizeof header}, {buffer.data(), buffer.size()}};
    for (;;) {
        ssize_t n = ::readv(fd_.get(), pieces, 2);
        if (n >= 0) {
            if (std::size_t(n) < sizeof header)
                return make_error("tap {}: a frame without its header", name_);
            return std::size_t(n) - sizeof header;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return std::size_t(0);
        return errno_error(fmt::format("tap {}: receive", name_));
    }
}

}  // namespace domus::backends
