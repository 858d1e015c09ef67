// EmulatedDisk: an ATA-style PIO disk controller (primary channel, 28-bit LBA) backed by
// a raw image file; the full-virtualization baseline for the PV block path. The register
// map and the protocol are the contract in <domus/abi/emulated_disk.h>.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/pio_device.hpp"
#include "base/fd.hpp"
#include "base/result.hpp"
#include "storage/image_lock.hpp"

#include <domus/abi/emulated_disk.h>

namespace domus::backends {

// What the guest made the device do. Each io() call is one exit.
struct EmulatedDiskStats {
    std::uint64_t register_exits = 0;  // exits on ports other than DATA
    std::uint64_t data_exits = 0;      // exits on DATA (a string batch counts once)
    std::uint64_t data_bytes = 0;      // bytes moved through DATA within a transfer
    std::uint64_t commands = 0;        // commands written to COMMAND
    std::uint64_t errors = 0;          // commands or accesses refused with STATUS.ERR
};

class EmulatedDisk final : public PioDevice {
public:
    // Opens a raw image (read-write unless read_only). Its size, rounded down to whole
    // sectors (at most EDISK_MAX_LBA28_SECTORS), is the disk's capacity.
    static Result<std::unique_ptr<EmulatedDisk>> open(const std::string& path, bool read_only);

    // The ports the device claims: 0x1F0-0x1F7 and 0x3F6.
    static constexpr std::array<PioRange, 2> kRanges{{
        {EDISK_PORT_DATA, EDISK_PORT_COMMAND},
        {EDISK_PORT_CONTROL, EDISK_PORT_CONTROL},
    }};

    void io(std::uint16_t port, std::uint8_t size, std::uint32_t count, bool is_write,
            std::span<std::byte> data) noexcept override;

    std::uint64_t sectors() const noexcept { return sectors_; }
    bool read_only() const noexcept { return read_only_; }
    EmulatedDiskStats stats() const noexcept;

private:
    enum class Phase { idle, data_in, data_out };

    EmulatedDisk(Fd fd, std::uint64_t sectors, bool read_only);

    // All of these run with mutex_ held.
    void reset() noexcept;
    std::uint8_t status() const noexcept { return status_; }
    std::uint8_t read_register(std::uint16_t port) noexcept;
    void write_register(std::uint16_t port, std::uint8_t value) noexcept;
    void data_read(std::span<std::byte> out) noexcept;
    void data_write(std::span<const std::byte> in) noexcept;
    void execute(std::uint8_t command) noexcept;
    void start_read(std::uint64_t lba, std::uint32_t count) noexcept;
    void start_write(std::uint64_t lba, std::uint32_t count) noexcept;
    void finish_write() noexcept;
    void identify() noexcept;
    void flush() noexcept;
    void fail(std::uint8_t error) noexcept;
    void complete() noexcept;

    const Fd fd_;
    storage::ImageLock lock_;  // like every image a domain opens (set by open())
    const std::uint64_t sectors_;
    const bool read_only_;

    std::mutex mutex_;
    // Task file, as the guest last wrote it.
    std::uint8_t count_ = 0, lba_low_ = 0, lba_mid_ = 0, lba_high_ = 0, device_ = 0;
    std::uint8_t status_ = 0, error_ = 0;
    // The transfer in progress: buffer_[position_, end) is still to be moved.
    Phase phase_ = Phase::idle;
    std::vector<std::byte> buffer_;
    std::size_t position_ = 0;
    std::uint64_t transfer_lba_ = 0;

    std::atomic<std::uint64_t> register_exits_{0}, data_exits_{0}, data_bytes_{0}, commands_{0},
        errors_{0};
};

}  // namespace domus::backends
