// The migration stream's framing: header and record encoding, checksums, and the checks
// a reader makes before it hands a record on (see stream.hpp).
#include "migration/stream.hpp"

#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>

namespace domus::migration {
namespace {

void put32(std::uint8_t* p, std::uint32_t v) noexcept {
    std::memcpy(p, &v, 4);
}
std::uint32_t get32(const std::uint8_t* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

constexpr std::size_t padding(std::size_t length) noexcept {
    return (8 - length % 8) % 8;
}

// The record checksum covers the type, the length and the body.
std::uint32_t record_crc(std::uint32_t type, std::uint32_t length,
                         std::span<const std::span<const std::uint8_t>> body) noexcept {
    std::uint8_t head[8];
    put32(head, type);
    put32(head + 4, length);
    std::uint32_t crc = crc32(head);
    for (auto piece : body)
        crc = crc32(piece, crc);
    return crc;
}

}  // namespace

const char* record_type_name(std::uint32_t type) noexcept {
    switch (RecordType(type & ~kOptionalRecord)) {
        case RecordType::end:
            return "end";
        case RecordType::domain_info:
            return "domain_info";
        case RecordType::page_data:
            return "page_data";
        case RecordType::vcpu_state:
            return "vcpu_state";
        case RecordType::shared_info:
            return "shared_info";
        case RecordType::grant_table:
            return "grant_table";
        case RecordType::event_channels:
            return "event_channels";
        case RecordType::store_subtree:
            return "store_subtree";
        case RecordType::xl_config:
            return "xl_config";
        case RecordType::guest_clock:
            return "guest_clock";
        case RecordType::disk_file:
            return "disk_file";
        case RecordType::disk_data:
            return "disk_data";
        case RecordType::physmap:
            return "physmap";
    }
    return "unknown";
}

std::uint32_t crc32(std::span<const std::uint8_t> bytes, std::uint32_t seed) noexcept {
    uLong crc = seed;
    while (!bytes.empty()) {
        auto chunk = std::min<std::size_t>(bytes.size(), 1u << 30);
        crc = ::crc32(crc, bytes.data(), uInt(chunk));
        bytes = bytes.subspan(chunk);
    }
    return std::uint32_t(crc);
}

Result<void> FdSink::write(std::span<const std::uint8_t> bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::write(fd_, bytes.data(), bytes.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_error("writing the migration stream");
        }
        bytes = bytes.subspan(std::size_t(n));
        written_ += std::uint64_t(n);
    }
    return {};
}

Result<std::size_t> FdSource::read(std::span<std::uint8_t> bytes) {
    for (;;) {
        ssize_t n = ::read(fd_, bytes.data(), bytes.size());
        if (n >= 0) return std::size_t(n);
        if (errno != EINTR) return errno_error("reading the migration stream");
    }
}

Result<std::size_t> SpanSource::read(std::span<std::uint8_t> bytes) {
    std::size_t n = std::min(bytes.size(), data_.size() - offset_);
    std::memcpy(bytes.data(), data_.data() + offset_, n);
    offset_ += n;
    return n;
}

Result<void> StreamWriter::header(std::uint32_t flags) {
    std::uint8_t head[kImageHeaderSize] = {};
    std::memcpy(head, kMagic, sizeof kMagic);
    put32(head + 8, kVersion);
    put32(head + 12, flags);
    put32(head + 16, crc32(std::span(head, 16)));
    DOMUS_TRY_VOID(sink_.write(head));
    bytes_ += sizeof head;
    return {};
}

Result<void> StreamWriter::record(std::uint32_t type,
                                  std::span<const std::span<const std::uint8_t>> body) {
    std::size_t length = 0;
    for (auto piece : body)
        length += piece.size();
    if (length > kMaxRecordBody)
        return make_error("a {} record of {} bytes is over the limit", record_type_name(type),
                          length);
    std::uint8_t head[kRecordHeaderSize] = {};
    put32(head, type);
    put32(head + 4, std::uint32_t(length));
    put32(head + 8, record_crc(type, std::uint32_t(length), body));
    DOMUS_TRY_VOID(sink_.write(head));
    for (auto piece : body)
        DOMUS_TRY_VOID(sink_.write(piece));
    static constexpr std::uint8_t kZeros[8] = {};
    DOMUS_TRY_VOID(sink_.write(std::span(kZeros, padding(length))));
    bytes_ += sizeof head + length + padding(length);
    return {};
}

Result<void> StreamWriter::record(RecordType type, std::span<const std::uint8_t> body) {
    std::span<const std::uint8_t> pieces[] = {body};
    return record(std::uint32_t(type), pieces);
}

Result<void> StreamReader::read_exact(std::span<std::uint8_t> bytes, const char* what) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        DOMUS_TRY(n, source_.read(bytes.subspan(done)));
        if (n == 0)
            return make_error(
                "the stream is truncated (or a length in it corrupt): it ends inside {} at byte {}",
                what, offset_ + done);
        done += n;
    }
    offset_ += done;
    return {};
}

Result<ImageHeader> StreamReader::header() {
    std::uint8_t head[kImageHeaderSize];
    DOMUS_TRY_VOID(read_exact(head, "the image header"));
    if (std::memcmp(head, kMagic, sizeof kMagic) != 0)
        return make_error("not a Domus save image or migration stream (bad magic)");
    if (get32(head + 16) != crc32(std::span(head, 16)))
        return make_error("the image header's checksum does not match: the stream is corrupt");
    ImageHeader header{get32(head + 8), get32(head + 12)};
    if (header.version > kVersion)
        return make_error("stream format version {} is newer than this Domus reads ({})",
                          header.version, kVersion);
    if (header.version == 0) return make_error("stream format version 0 is not valid");
    if (get32(head + 20) != 0 || (header.flags & ~(kFlagLive | kFlagDisks)) != 0)
        return make_error("the image header has reserved bits set: the stream is corrupt");
    return header;
}

Result<Record> StreamReader::next() {
    for (;;) {
        std::uint64_t at = offset_;
        std::uint8_t head[kRecordHeaderSize];
        DOMUS_TRY_VOID(read_exact(head, "a record header"));
        Record record{get32(head), {}};
        std::uint32_t length = get32(head + 4);
        const char* name = record_type_name(record.type);
        if (get32(head + 12) != 0)
            return make_error("record #{} at byte {}: reserved field set: the stream is corrupt",
                              records_, at);
        if (length > kMaxRecordBody)
            return make_error("record #{} ({}) at byte {}: length {} is over the limit {}",
                              records_, name, at, length, kMaxRecordBody);
        record.body.resize(length);
        DOMUS_TRY_VOID(read_exact(record.body, "a record body"));
        std::uint8_t pad[8] = {};
        DOMUS_TRY_VOID(read_exact(std::span(pad, padding(length)), "a record's padding"));
        std::span<const std::uint8_t> pieces[] = {record.body};
        if (get32(head + 8) != record_crc(record.type, length, pieces))
            return make_error(
                "record #{} ({}) at byte {}: checksum mismatch: the stream is corrupt", records_,
                name, at);
        for (auto b : pad)
            if (b != 0)
                return make_error("record #{} ({}) at byte {}: padding not zero: corrupt", records_,
                                  name, at);
        ++records_;
        if ((record.type & ~kOptionalRecord) <= kLastRecordType) return record;
        if (!(record.type & kOptionalRecord))
            return make_error("record #{} at byte {}: unknown record type {:#x}", records_ - 1, at,
                              record.type);
        // an optional record from a newer writer: skip it
    }
}

}  // namespace domus::migration
