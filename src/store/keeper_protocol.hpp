// The fd keeper protocol (host-internal): the store daemon deposits every fd its state
// depends on (its listening sockets, each tool connection, each attached guest ring)
// with domusd, so that when the store dies domusd starts a new one and hands them back
// and no client sees a close. systemd's FDSTORE, over one SOCK_SEQPACKET connection:
//
//   store -> keeper   Reset              forget what I deposited before (a new link)
//   store -> keeper   Deposit id kind    + fds; a Domain also carries its DomainAttach
//   store -> keeper   Synced             every deposit so far is sent (after a Reset)
//   store -> keeper   Withdraw id        that connection closed
//   store -> keeper   Stopping           a clean stop: do not restart me
//   keeper -> store   Restore id kind    + fds, to a store started with --keeper-fd
//   keeper -> store   RestoreEnd         then the store rebuilds and sends Reset + Deposits
//
// A keeper reaches a running store at <run dir>/xenstored/keeper (kKeeperSocketName);
// a store it starts gets the link as an inherited fd.
#pragma once

#include <cstdint>
#include <vector>

#include "base/fd.hpp"
#include "base/result.hpp"
#include "store/domain_attach.hpp"

namespace domus::store {

inline constexpr const char* kKeeperSocketName = "keeper";
inline constexpr std::uint32_t kKeeperMagic = 0x4b535844;  // "DXSK"

enum class KeeperOp : std::uint32_t {
    Reset = 1,
    Deposit = 2,
    Withdraw = 3,
    Stopping = 4,
    Restore = 5,
    RestoreEnd = 6,
    Synced = 7,
};

// What a deposit is, and so how many fds it carries.
enum class KeptKind : std::uint32_t {
    ToolListener = 1,    // 1 fd: the tool socket's listening socket
    DomainListener = 2,  // 1 fd: the domain socket's listening socket
    ToolClient = 3,      // 1 fd: one tool connection
    Domain = 4,          // 4 fds: monitor connection, guest memfd, guest-notify, store-notify
};
inline constexpr std::uint64_t kToolListenerId = 1;
inline constexpr std::uint64_t kDomainListenerId = 2;

std::size_t kept_fd_count(KeptKind kind) noexcept;

struct KeeperMessage {
    std::uint32_t magic = kKeeperMagic;
    KeeperOp op = KeeperOp::Reset;
    std::uint64_t id = 0;  // the store's connection id (or a listener id above)
    KeptKind kind = KeptKind::ToolClient;
    std::uint32_t reserved = 0;
    DomainAttach attach{};  // KeptKind::Domain only
};
static_assert(sizeof(KeeperMessage) == 56);

// Sends one message with `fds` (not consumed). Blocks (the link is a blocking socket).
Result<void> send_keeper(int socket, const KeeperMessage& message, const std::vector<int>& fds);
// Receives one message and its fds. Nothing: the peer closed the link. A message with
// the wrong size, magic, or fd count for its kind is an error.
Result<bool> receive_keeper(int socket, KeeperMessage& message, std::vector<Fd>& fds);

}  // namespace domus::store
