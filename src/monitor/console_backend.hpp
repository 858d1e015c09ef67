// ConsoleBackend: the monitor's end of the domain's primary console ring
// (struct xencons_interface). Guest output is drained to an output fd when the
// guest rings the doorbell; input from an fd is fed into the `in` ring.
// Runs one thread; the guest's notifications reach it through an ioeventfd.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "base/fd.hpp"
#include "base/result.hpp"

#include <domus/abi/console.h>

namespace domus::monitor {

class EventChannels;

class ConsoleBackend {
public:
    // `ring` lives in guest memory; output goes to output_fd, input (if >= 0) comes from input_fd.
    ConsoleBackend(xencons_interface& ring, int output_fd, int input_fd);
    ~ConsoleBackend();

    // The eventfd the guest's notifications signal (wired to the doorbell by the domain).
    int doorbell_fd() const noexcept { return doorbell_.get(); }
    void start(EventChannels& events, std::uint32_t port);
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

    xencons_interface& ring_;
    int output_fd_;
    int input_fd_;
    Fd doorbell_;
    Fd stop_;
    EventChannels* events_ = nullptr;
    std::uint32_t port_ = 0;
    std::thread thread_;
    std::mutex drain_mutex_;
    std::mutex output_mutex_;
    std::mutex input_mutex_;
    std::string pending_input_;
    bool input_open_ = true;
    std::string history_;  // the last kHistoryBytes of output, guarded by output_mutex_
    std::atomic<std::uint64_t> bytes_out_{0};
    std::atomic<std::uint64_t> notifications_{0};
};

}  // namespace domus::monitor
