// PrimaryConsole: the backend of a domain's console 0 (Xen's xenconsoled part): the
// ring page at start_info.console (struct xencons_interface) drained to an output fd
// when the guest rings the doorbell, input from an fd or an attached client fed into
// the `in` ring, and the recent output kept for a client that attaches later.
// Runs one thread; the guest's notifications reach it through an eventfd.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>

#include "backends/console/console_ring.hpp"
#include "base/fd.hpp"

namespace domus::backends {

class PrimaryConsole {
public:
    // `page` is the ring page in guest memory; output goes to output_fd, input (if >= 0)
    // comes from input_fd.
    PrimaryConsole(std::span<std::byte> page, int output_fd, int input_fd);
    ~PrimaryConsole();
    PrimaryConsole(const PrimaryConsole&) = delete;
    PrimaryConsole& operator=(const PrimaryConsole&) = delete;

    // The eventfd the guest's notifications signal (wired to the doorbell by the domain).
    int doorbell_fd() const noexcept { return doorbell_.get(); }
    // Starts the thread; `notify_guest` raises the console's event channel.
    void start(std::function<void()> notify_guest);
    // Drains what the guest wrote, stops the thread. Idempotent.
    void stop();
    // Early console (console_io): written straight through, in order with the ring.
    void write_direct(const char* data, std::size_t length);
    // console_io read: takes up to `length` bytes of pending input.
    std::size_t read_direct(char* data, std::size_t length);
    // Sends output to `fd` from now on (-1: nowhere), first replaying the recent history
    // when `replay` is set. A write error detaches the fd.
    void set_output(int fd, bool replay);
    // Keyboard input from an attached console client.
    void push_input(std::string_view bytes);

    std::uint64_t bytes_out() const noexcept { return bytes_out_.load(); }
    std::uint64_t notifications() const noexcept { return notifications_.load(); }

private:
    void thread_main();
    void drain_output();
    void feed_input();
    void write_all(const char* data, std::size_t length);
    void notify();

    ConsoleRing ring_;  // guarded by drain_mutex_ (out) and input_mutex_ (in)
    int output_fd_;
    int input_fd_;
    Fd doorbell_;
    Fd stop_;
    std::function<void()> notify_guest_;
    std::thread thread_;
    std::mutex drain_mutex_;
    std::mutex output_mutex_;
    std::mutex input_mutex_;
    std::string pending_input_;
    bool input_open_ = true;
    std::string drained_;  // scratch of drain_output, guarded by drain_mutex_
    std::string history_;  // the last kHistoryBytes of output, guarded by output_mutex_
    std::atomic<std::uint64_t> bytes_out_{0};
    std::atomic<std::uint64_t> notifications_{0};
};

}  // namespace domus::backends
