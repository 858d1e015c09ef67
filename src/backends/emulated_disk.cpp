// The emulated ATA PIO disk (see emulated_disk.hpp): register decoding, the command
// state machine and the image I/O. Every guest value is checked before it is used.
#include "backends/emulated_disk.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "base/checked.hpp"
#include "base/log.hpp"

namespace domus::backends {
namespace {

constexpr std::uint8_t kReady = EDISK_STATUS_DRDY | EDISK_STATUS_DSC;
constexpr std::size_t kSector = EDISK_SECTOR_SIZE;
constexpr std::size_t kMaxTransfer = EDISK_MAX_SECTORS_PER_COMMAND * kSector;

// Whole-buffer pread/pwrite; false on an error or end of file.
bool read_exact(int fd, std::byte* buffer, std::size_t length, off_t offset) noexcept {
    while (length) {
        ssize_t n = ::pread(fd, buffer, length, offset);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        buffer += n, length -= std::size_t(n), offset += n;
    }
    return true;
}

bool write_exact(int fd, const std::byte* buffer, std::size_t length, off_t offset) noexcept {
    while (length) {
        ssize_t n = ::pwrite(fd, buffer, length, offset);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        buffer += n, length -= std::size_t(n), offset += n;
    }
    return true;
}

// ATA strings: two characters per word, the first in the high byte, space padded.
void put_ata_string(std::byte* words, std::size_t first_word, std::size_t nr_words,
                    std::string_view text) noexcept {
    for (std::size_t i = 0; i < nr_words * 2; ++i) {
        char c = i < text.size() ? text[i] : ' ';
        words[first_word * 2 + (i ^ 1)] = std::byte(c);
    }
}

void put_word(std::byte* words, std::size_t index, std::uint16_t value) noexcept {
    words[index * 2] = std::byte(value & 0xFF);
    words[index * 2 + 1] = std::byte(value >> 8);
}

log::RateLimit& warn_limit() {
    static log::RateLimit limit;
    return limit;
}

}  // namespace

Result<std::unique_ptr<EmulatedDisk>> EmulatedDisk::open(const std::string& path, bool read_only) {
    Fd fd(::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    if (!fd) return errno_error("emulated disk " + path);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return errno_error("emulated disk " + path);
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        return make_error("emulated disk {}: not a regular file or block device", path);
    DOMUS_TRY(lock,
              storage::ImageLock::acquire(
                  fd.get(), path, read_only ? storage::kReaderLock : storage::kRawWriterLock));
    off_t size = ::lseek(fd.get(), 0, SEEK_END);
    if (size < 0) return errno_error("emulated disk " + path);
    std::uint64_t sectors = std::uint64_t(size) / kSector;
    if (sectors == 0) return make_error("emulated disk {}: smaller than one sector", path);
    if (sectors > EDISK_MAX_LBA28_SECTORS) {
        DOMUS_LOG_WARN("edisk", "{}: only the first {} sectors are addressable (28-bit LBA)", path,
                       EDISK_MAX_LBA28_SECTORS);
        sectors = EDISK_MAX_LBA28_SECTORS;
    }
    std::unique_ptr<EmulatedDisk> disk(new EmulatedDisk(std::move(fd), sectors, read_only));
    disk->lock_ = std::move(lock);
    return disk;
}

EmulatedDisk::EmulatedDisk(Fd fd, std::uint64_t sectors, bool read_only)
    : fd_(std::move(fd)), sectors_(sectors), read_only_(read_only) {
    buffer_.reserve(kMaxTransfer);  // resize() within it never allocates on the vCPU path
    reset();
}

EmulatedDiskStats EmulatedDisk::stats() const noexcept {
    constexpr auto relaxed = std::memory_order_relaxed;
    return {register_exits_.load(relaxed), data_exits_.load(relaxed), data_bytes_.load(relaxed),
            commands_.load(relaxed), errors_.load(relaxed)};
}

void EmulatedDisk::io(std::uint16_t port, std::uint8_t size, std::uint32_t count, bool is_write,
                      std::span<std::byte> data) noexcept {
    std::lock_guard lock(mutex_);
    (port == EDISK_PORT_DATA ? data_exits_ : register_exits_)
        .fetch_add(1, std::memory_order_relaxed);
    bool shape_ok = (size == 1 || size == 2 || size == 4) && count >= 1 &&
                    std::uint64_t(size) * count == data.size();
    if (!shape_ok) {  // not something KVM sends; refuse rather than guess
        if (!is_write) std::fill(data.begin(), data.end(), std::byte{0xFF});
        errors_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    if (port == EDISK_PORT_DATA) {
        if (size == 1) {
            if (!is_write) std::fill(data.begin(), data.end(), std::byte{0xFF});
            fail(EDISK_ERROR_ABRT);
        } else if (is_write) {
            data_write(data);
        } else {
            data_read(data);
        }
        return;
    }
    // An 8-bit register file: a wider access (or each element of a string access)
    // touches port, port + 1, ... one byte each, as on an ISA bus.
    for (std::size_t i = 0; i < data.size(); ++i) {
        auto byte_port = std::uint16_t(port + i % size);
        if (is_write)
            write_register(byte_port, std::uint8_t(data[i]));
        else
            data[i] = std::byte(read_register(byte_port));
    }
}

void EmulatedDisk::reset() noexcept {
    phase_ = Phase::idle;
    buffer_.clear();
    position_ = 0;
    // The ATA signature of a (non-packet) device after reset; ERROR 0x01: no error.
    count_ = 1, lba_low_ = 1, lba_mid_ = 0, lba_high_ = 0, device_ = 0;
    status_ = kReady;
    error_ = 0x01;
}

std::uint8_t EmulatedDisk::read_register(std::uint16_t port) noexcept {
    switch (port) {
        case EDISK_PORT_ERROR:
            return error_;
        case EDISK_PORT_COUNT:
            return count_;
        case EDISK_PORT_LBA_LOW:
            return lba_low_;
        case EDISK_PORT_LBA_MID:
            return lba_mid_;
        case EDISK_PORT_LBA_HIGH:
            return lba_high_;
        case EDISK_PORT_DEVICE:
            return device_;
        case EDISK_PORT_STATUS:
            return status();
        case EDISK_PORT_ALT_STATUS:
            return status();
        default:
            return 0xFF;  // DATA as a byte of a wider access, or past our registers
    }
}

void EmulatedDisk::write_register(std::uint16_t port, std::uint8_t value) noexcept {
    switch (port) {
        case EDISK_PORT_FEATURES:
            break;
        case EDISK_PORT_COUNT:
            count_ = value;
            break;
        case EDISK_PORT_LBA_LOW:
            lba_low_ = value;
            break;
        case EDISK_PORT_LBA_MID:
            lba_mid_ = value;
            break;
        case EDISK_PORT_LBA_HIGH:
            lba_high_ = value;
            break;
        case EDISK_PORT_DEVICE:
            device_ = value;
            break;
        case EDISK_PORT_COMMAND:
            execute(value);
            break;
        case EDISK_PORT_CONTROL:
            if (value & EDISK_CONTROL_SRST) reset();
            break;
        default:
            break;  // DATA as a byte of a wider access, or past our registers
    }
}

void EmulatedDisk::execute(std::uint8_t command) noexcept {
    commands_.fetch_add(1, std::memory_order_relaxed);
    if (phase_ != Phase::idle) {  // out of sequence: the transfer in progress ends too
        if (warn_limit().allow())
            DOMUS_LOG_WARN("edisk", "command {:#04x} during a transfer: both aborted", command);
        return fail(EDISK_ERROR_ABRT);
    }
    if (device_ & EDISK_DEVICE_DRIVE1) return fail(EDISK_ERROR_ABRT);  // no drive 1
    error_ = 0;
    bool transfer = command == EDISK_CMD_READ_SECTORS || command == EDISK_CMD_WRITE_SECTORS;
    if (transfer) {
        if (!(device_ & EDISK_DEVICE_LBA)) return fail(EDISK_ERROR_ABRT);  // no CHS
        std::uint64_t lba = std::uint64_t(device_ & 0x0F) << 24 | std::uint64_t(lba_high_) << 16 |
                            std::uint64_t(lba_mid_) << 8 | lba_low_;
        std::uint32_t sectors = count_ ? count_ : EDISK_MAX_SECTORS_PER_COMMAND;
        if (!range_within(lba, sectors, sectors_)) return fail(EDISK_ERROR_IDNF | EDISK_ERROR_ABRT);
        if (command == EDISK_CMD_READ_SECTORS) return start_read(lba, sectors);
        if (read_only_) return fail(EDISK_ERROR_ABRT);
        return start_write(lba, sectors);
    }
    switch (command) {
        case EDISK_CMD_FLUSH_CACHE:
            return flush();
        case EDISK_CMD_IDENTIFY:
            return identify();
        default:
            if (warn_limit().allow())
                DOMUS_LOG_WARN("edisk", "unknown command {:#04x} aborted", command);
            return fail(EDISK_ERROR_ABRT);
    }
}

void EmulatedDisk::start_read(std::uint64_t lba, std::uint32_t count) noexcept {
    buffer_.resize(std::size_t(count) * kSector);
    if (!read_exact(fd_.get(), buffer_.data(), buffer_.size(), off_t(lba * kSector))) {
        if (warn_limit().allow())
            DOMUS_LOG_WARN("edisk", "reading sectors {}+{}: {}", lba, count, std::strerror(errno));
        return fail(EDISK_ERROR_UNC | EDISK_ERROR_ABRT);
    }
    position_ = 0;
    phase_ = Phase::data_in;
    status_ = kReady | EDISK_STATUS_DRQ;
}

void EmulatedDisk::start_write(std::uint64_t lba, std::uint32_t count) noexcept {
    buffer_.resize(std::size_t(count) * kSector);
    position_ = 0;
    transfer_lba_ = lba;
    phase_ = Phase::data_out;
    status_ = kReady | EDISK_STATUS_DRQ;
}

void EmulatedDisk::finish_write() noexcept {
    if (!write_exact(fd_.get(), buffer_.data(), buffer_.size(), off_t(transfer_lba_ * kSector))) {
        if (warn_limit().allow())
            DOMUS_LOG_WARN("edisk", "writing sectors {}+{}: {}", transfer_lba_,
                           buffer_.size() / kSector, std::strerror(errno));
        return fail(EDISK_ERROR_UNC | EDISK_ERROR_ABRT);
    }
    complete();
}

void EmulatedDisk::identify() noexcept {
    buffer_.assign(kSector, std::byte{0});
    std::byte* words = buffer_.data();
    put_word(words, EDISK_ID_GENERAL, 0x0040);
    put_ata_string(words, EDISK_ID_SERIAL, 10, "DOMUS-EDISK-0");
    put_ata_string(words, EDISK_ID_FIRMWARE, 4, "1.0");
    put_ata_string(words, EDISK_ID_MODEL, 20, "DOMUS EMULATED DISK");
    put_word(words, EDISK_ID_MAX_MULTIPLE, 0x8000);
    put_word(words, EDISK_ID_CAPABILITIES, 1u << 9);
    put_word(words, EDISK_ID_LBA28_SECTORS, std::uint16_t(sectors_ & 0xFFFF));
    put_word(words, EDISK_ID_LBA28_SECTORS + 1, std::uint16_t(sectors_ >> 16));
    put_word(words, EDISK_ID_COMMAND_SETS, 0x4000 | 1u << 12);  // bit 14: word is valid
    put_word(words, EDISK_ID_DOMUS_FLAGS, read_only_ ? EDISK_ID_FLAG_READ_ONLY : 0);
    position_ = 0;
    phase_ = Phase::data_in;
    status_ = kReady | EDISK_STATUS_DRQ;
}

void EmulatedDisk::flush() noexcept {
    if (!read_only_ && ::fdatasync(fd_.get()) != 0) {
        if (warn_limit().allow()) DOMUS_LOG_WARN("edisk", "flush: {}", std::strerror(errno));
        return fail(EDISK_ERROR_ABRT);
    }
    complete();
}

void EmulatedDisk::data_read(std::span<std::byte> out) noexcept {
    std::size_t moved = 0;
    if (phase_ == Phase::data_in) {
        moved = std::min(out.size(), buffer_.size() - position_);
        std::memcpy(out.data(), buffer_.data() + position_, moved);
        position_ += moved;
        data_bytes_.fetch_add(moved, std::memory_order_relaxed);
        if (position_ == buffer_.size()) complete();
    }
    if (moved < out.size()) {  // no transfer, the wrong direction, or past its end
        std::fill(out.begin() + std::ptrdiff_t(moved), out.end(), std::byte{0xFF});
        fail(EDISK_ERROR_ABRT);
    }
}

void EmulatedDisk::data_write(std::span<const std::byte> in) noexcept {
    std::size_t moved = 0;
    if (phase_ == Phase::data_out) {
        moved = std::min(in.size(), buffer_.size() - position_);
        std::memcpy(buffer_.data() + position_, in.data(), moved);
        position_ += moved;
        data_bytes_.fetch_add(moved, std::memory_order_relaxed);
        if (position_ == buffer_.size()) finish_write();
    }
    if (moved < in.size()) fail(EDISK_ERROR_ABRT);
}

void EmulatedDisk::fail(std::uint8_t error) noexcept {
    phase_ = Phase::idle;
    buffer_.clear();
    position_ = 0;
    status_ = kReady | EDISK_STATUS_ERR;
    error_ = error;
    errors_.fetch_add(1, std::memory_order_relaxed);
}

void EmulatedDisk::complete() noexcept {
    phase_ = Phase::idle;
    buffer_.clear();
    position_ = 0;
    status_ = kReady;
    error_ = 0;
}

}  // namespace domus::backends
