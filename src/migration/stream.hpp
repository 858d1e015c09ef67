// The migration stream's framing (docs/migration-stream.md): an image header, then typed
// records, each with a CRC-32 over its header and body, ending with an `end` record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.hpp"

namespace domus::migration {

inline constexpr char kMagic[8] = {'D', 'O', 'M', 'U', 'S', 'M', 'I', 'G'};
// 2: xl_config comes right after the header (a destination builds the domain from it
// while the memory arrives). 1: domain_info first, xl_config near the end; still read.
inline constexpr std::uint32_t kVersion = 2;
inline constexpr std::size_t kImageHeaderSize = 24;
inline constexpr std::size_t kRecordHeaderSize = 16;
inline constexpr std::uint32_t kMaxRecordBody = 8u << 20;       // a page batch is at most ~4 MiB
inline constexpr std::uint32_t kOptionalRecord = 0x8000'0000u;  // unknown ones are skipped

enum class RecordType : std::uint32_t {
    end = 0,
    domain_info = 1,
    page_data = 2,
    vcpu_state = 3,
    shared_info = 4,
    grant_table = 5,
    event_channels = 6,
    store_subtree = 7,
    xl_config = 8,
    guest_clock = 9,
    disk_file = 10,  // --copy-disks: only in a disk stream (disk_records.hpp)
    disk_data = 11,
    physmap = 12,  // written optional: an older reader skips it
};
inline constexpr std::uint32_t kLastRecordType = 12;

const char* record_type_name(std::uint32_t type) noexcept;

// Image header flags.
inline constexpr std::uint32_t kFlagLive = 1u << 0;   // page data may repeat frames (rounds)
inline constexpr std::uint32_t kFlagDisks = 1u << 1;  // a disk stream (--copy-disks), no domain

struct ImageHeader {
    std::uint32_t version = kVersion;
    std::uint32_t flags = 0;
};

struct Record {
    std::uint32_t type = 0;
    std::vector<std::uint8_t> body;
};

// Where a stream goes and where it comes from: a file, a pipe, a socket or memory.
class ByteSink {
public:
    virtual ~ByteSink() = default;
    virtual Result<void> write(std::span<const std::uint8_t> bytes) = 0;
};
class ByteSource {
public:
    virtual ~ByteSource() = default;
    // Reads up to bytes.size() bytes; 0 only at the end of the stream.
    virtual Result<std::size_t> read(std::span<std::uint8_t> bytes) = 0;
};

class FdSink final : public ByteSink {
public:
    explicit FdSink(int fd) noexcept : fd_(fd) {}
    Result<void> write(std::span<const std::uint8_t> bytes) override;
    std::uint64_t written() const noexcept { return written_; }

private:
    int fd_;
    std::uint64_t written_ = 0;
};
class FdSource final : public ByteSource {
public:
    explicit FdSource(int fd) noexcept : fd_(fd) {}
    Result<std::size_t> read(std::span<std::uint8_t> bytes) override;

private:
    int fd_;
};
class VectorSink final : public ByteSink {
public:
    Result<void> write(std::span<const std::uint8_t> bytes) override {
        data.insert(data.end(), bytes.begin(), bytes.end());
        return {};
    }
    std::vector<std::uint8_t> data;
};
class SpanSource final : public ByteSource {
public:
    explicit SpanSource(std::span<const std::uint8_t> data) noexcept : data_(data) {}
    Result<std::size_t> read(std::span<std::uint8_t> bytes) override;

private:
    std::span<const std::uint8_t> data_;
    std::size_t offset_ = 0;
};

class StreamWriter {
public:
    explicit StreamWriter(ByteSink& sink) noexcept : sink_(sink) {}
    Result<void> header(std::uint32_t flags);
    // One record; the body may be given in pieces (a batch's frame list, then its pages).
    Result<void> record(std::uint32_t type, std::span<const std::span<const std::uint8_t>> body);
    Result<void> record(RecordType type, std::span<const std::uint8_t> body);
    Result<void> end() { return record(RecordType::end, {}); }
    std::uint64_t bytes() const noexcept { return bytes_; }

private:
    ByteSink& sink_;
    std::uint64_t bytes_ = 0;
};

class StreamReader {
public:
    explicit StreamReader(ByteSource& source) noexcept : source_(source) {}
    Result<ImageHeader> header();
    // The next record, checked (checksum, reserved bits, length, type). Unknown optional
    // records are skipped; after `end` nothing more is read.
    Result<Record> next();
    std::uint64_t offset() const noexcept { return offset_; }
    std::uint64_t records() const noexcept { return records_; }

private:
    Result<void> read_exact(std::span<std::uint8_t> bytes, const char* what);
    ByteSource& source_;
    std::uint64_t offset_ = 0;
    std::uint64_t records_ = 0;
};

std::uint32_t crc32(std::span<const std::uint8_t> bytes, std::uint32_t seed = 0) noexcept;

}  // namespace domus::migration
