// StoreLink: connects the domain's xenstore ring to the store daemon. The monitor does
// not parse store traffic: it hands the daemon the ring page (through the RAM memfd)
// and two eventfds (src/store/domain_attach.hpp), wires the guest's notifications to
// the first through the doorbell, and raises the store port when the daemon signals
// the second.
#pragma once

#include <cstdint>
#include <string>
#include <thread>

#include "base/fd.hpp"
#include "base/result.hpp"

namespace domus::monitor {

class EventChannels;
class GuestMemory;

class StoreLink {
public:
    // Attaches domain `domid` whose ring page is at `ring_gpa` to the store daemon of
    // `run_dir`; binds the store port in `events`. Fails with a clear message when no
    // daemon listens or it refuses the domain.
    static Result<std::unique_ptr<StoreLink>> attach(const std::string& run_dir,
                                                     std::uint16_t domid, const GuestMemory& memory,
                                                     std::uint64_t ring_gpa, EventChannels& events);
    ~StoreLink();

    std::uint32_t port() const noexcept { return port_; }
    int guest_notify_fd() const noexcept { return guest_notify_.get(); }
    // Starts forwarding the daemon's notifications into the guest.
    void start();

private:
    StoreLink() = default;
    void thread_main();

    Fd socket_;        // the attach connection: closing it releases the domain
    Fd guest_notify_;  // guest -> store (doorbell ioeventfd)
    Fd store_notify_;  // store -> guest
    Fd stop_;
    EventChannels* events_ = nullptr;
    std::uint32_t port_ = 0;
    std::thread thread_;
};

}  // namespace domus::monitor
