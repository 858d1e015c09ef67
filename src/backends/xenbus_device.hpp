// XenbusDevice: what every split-driver backend shares, so that each device (vbd,
// console channel, vif) only says what is its own. The base publishes the device's two
// XenBus directories in one transaction, follows the frontend through Xen's XenBus states
// (PV ABI reference, section 10), runs the device's thread, takes hot-unplug requests
// and removes the directories at the end.
//
// Threads: everything but the public calls runs on the device thread; the public calls
// (start, stop, begin_detach, released, announce_closed, run_on_thread) come from the
// owner's thread and reach the device thread as tasks, so the device's state has one
// owner. A derived class is `final` and calls stop() first in its destructor (the thread
// calls its hooks).
#pragma once

#include <poll.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "backends/backend_host.hpp"
#include "base/fd.hpp"
#include "base/result.hpp"

namespace domus::backends {

class XenbusDevice {
public:
    // Devices of one kind have their own fds to watch besides the base's: at most this many.
    static constexpr std::size_t kMaxDeviceFds = 4;

    virtual ~XenbusDevice();
    XenbusDevice(const XenbusDevice&) = delete;
    XenbusDevice& operator=(const XenbusDevice&) = delete;

    // Writes both directories (backend state InitWait once the frontend may start).
    Result<void> publish();
    // Starts the device thread; stop() ends it (idempotent), then disconnects.
    void start();
    void stop();

    // Hot-unplug, as Xen's toolstack asks for it: the backend goes offline and Closing,
    // and the device is released once the frontend has closed (or never connected).
    Result<void> begin_detach();
    bool released() const noexcept { return released_.load(std::memory_order_acquire); }
    // Tells the frontend the device is gone (state Closed) before a forced removal.
    void announce_closed();

    // Runs `task` on the device thread between two events; fails when the thread ended.
    Result<void> run_on_thread(std::function<Result<void>()> task);

    const std::string& frontend_dir() const noexcept { return frontend_dir_; }
    const std::string& backend_dir() const noexcept { return backend_dir_; }
    const std::string& name() const noexcept { return name_; }

protected:
    // `type`: the XenBus device class ("vbd", "console", "vif"); `devid`: its number in
    // the frontend's device/<type>/ directory; `name` names it in messages.
    XenbusDevice(std::unique_ptr<BackendHost> host, std::string type, std::uint32_t devid,
                 std::string name);

    BackendHost& host() noexcept { return *host_; }
    XenbusStore& store() noexcept { return host_->store(); }
    bool connected() const noexcept { return connected_; }
    // The frontend broke the protocol: disconnect and say so (Closing), so its driver
    // gives up instead of waiting. Rate-limited warning naming `why`.
    void fail_frontend(std::string_view why);
    Result<void> set_backend_state(int state);
    // A frontend key holding a 32-bit decimal number (ring-ref, port, event-channel).
    Result<std::uint32_t> read_frontend_u32(const char* key);
    // The usual connect: maps the ring page whose grant is in the frontend's `ring_key`
    // into `ring` (writable) and binds the port in its `port_key` to `doorbell_fd`; all
    // or nothing.
    Result<void> take_ring(const char* ring_key, const char* port_key, int doorbell_fd,
                           std::unique_ptr<MappedPages>& ring);
    // The same for a device with several rings (a vif's TX and RX): page i of `rings` is
    // the ring whose grant is in `ring_keys[i]`.
    Result<void> take_rings(std::span<const char* const> ring_keys, const char* port_key,
                            int doorbell_fd, std::unique_ptr<MappedPages>& rings);

    // The device's own keys, written in the publishing transaction after the common ones.
    virtual Result<void> publish_keys(XenbusTransaction& t) = 0;
    // Takes the frontend's ring and channel; on success the base marks the device
    // connected and writes state Connected, then calls connected_hook().
    virtual Result<void> connect() = 0;
    virtual void connected_hook() {}
    // Lets go of the frontend's ring and channel; called only when connected.
    virtual void disconnect() = 0;
    // The device's fds to poll this round (fd -1: skipped), and what to do when ready.
    virtual std::size_t device_fds(std::span<pollfd, kMaxDeviceFds> fds) = 0;
    virtual void device_ready(std::span<const pollfd> fds) = 0;
    // Before each poll (e.g. moving buffered bytes), and once when the thread stops,
    // before the disconnect (last words to the host side).
    virtual void before_poll() {}
    virtual void on_stop() {}

private:
    void thread_main();
    void run_tasks();
    void frontend_changed();
    void do_disconnect();

    std::unique_ptr<BackendHost> host_;
    std::string name_;
    std::string frontend_dir_;
    std::string backend_dir_;
    std::string type_;
    Fd stop_;
    Fd task_wake_;
    std::thread thread_;
    std::mutex tasks_mutex_;  // guards tasks_, thread_ended_
    std::deque<std::packaged_task<Result<void>()>> tasks_;
    bool thread_ended_ = false;
    std::atomic<bool> released_{false};
    // Device thread only.
    bool connected_ = false;
    bool detaching_ = false;
    int backend_state_ = 0;  // the last state we wrote
};

// Digits only, at most 32 bits (strtoul would take spaces and signs, and wrap around):
// what a frontend writes is the guest's.
Result<std::uint32_t> parse_frontend_u32(std::string_view text, const char* key);

}  // namespace domus::backends
