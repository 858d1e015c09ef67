// The handshake by which a domain's monitor hands its xenstore ring to the store
// daemon (host-internal; guests never see it). The monitor connects to the store's
// domain socket ($DOMUS_RUN_DIR/xenstored/domains, SOCK_SEQPACKET, root only) and
// sends one DomainAttach with three fds (SCM_RIGHTS, in this order):
//   1. the guest RAM memfd; the store maps one page at `ring_offset` (the ring),
//   2. an eventfd the monitor signals when the guest notified the store port,
//   3. an eventfd the store signals to raise the store port in the guest.
// The store answers with one DomainAttachReply. The connection stays open for the
// domain's lifetime: when it closes, the store releases the domain (@releaseDomain).
#pragma once

#include <cstdint>

namespace domus::store {

inline constexpr std::uint32_t kDomainAttachMagic = 0x41535844;  // "DXSA"
inline constexpr std::uint32_t kDomainAttachVersion = 1;
inline constexpr const char* kDomainSocketName = "domains";  // under <run dir>/xenstored/
inline constexpr const char* kToolSocketName = "socket";     // Xen's tool socket, same folder

struct DomainAttach {
    std::uint32_t magic = kDomainAttachMagic;
    std::uint32_t version = kDomainAttachVersion;
    std::uint32_t domid = 0;
    std::uint32_t port = 0;         // the guest's store event channel (as in XS_INTRODUCE)
    std::uint64_t ring_offset = 0;  // byte offset of the ring page in the memfd
    std::uint64_t ring_gfn = 0;     // the same page as a guest frame number (for INTRODUCE)
};
static_assert(sizeof(DomainAttach) == 32);

struct DomainAttachReply {
    std::int32_t status = 0;  // 0, or a negative errno (e.g. -EEXIST: domid already attached)
};

}  // namespace domus::store
