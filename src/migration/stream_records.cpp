// Record bodies of the migration stream: little-endian fields written by Encoder and
// read back by Decoder, which refuses a body that is short, long or out of range.
#include "migration/stream_records.hpp"

#include <bit>
#include <cstring>
#include <set>

namespace domus::migration {
namespace {

class Encoder {
public:
    void u32(std::uint32_t v) { raw(&v, 4); }
    void u64(std::uint64_t v) { raw(&v, 8); }
    void bytes(std::span<const std::uint8_t> b) {
        u32(std::uint32_t(b.size()));
        out.insert(out.end(), b.begin(), b.end());
    }
    void str(const std::string& s) {
        bytes({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
    }
    std::vector<std::uint8_t> out;

private:
    void raw(const void* p, std::size_t n) {
        auto b = static_cast<const std::uint8_t*>(p);
        out.insert(out.end(), b, b + n);
    }
};

class Decoder {
public:
    Decoder(std::span<const std::uint8_t> body, const char* what) : body_(body), what_(what) {}
    bool u32(std::uint32_t& v) { return raw(&v, 4); }
    bool u64(std::uint64_t& v) { return raw(&v, 8); }
    bool bytes(std::span<const std::uint8_t>& b) {
        std::uint32_t n;
        if (!u32(n) || n > body_.size() - at_) return fail();
        b = body_.subspan(at_, n);
        at_ += n;
        return true;
    }
    bool str(std::string& s) {
        std::span<const std::uint8_t> b;
        if (!bytes(b)) return false;
        s.assign(b.begin(), b.end());
        return true;
    }
    std::size_t left() const noexcept { return body_.size() - at_; }
    // Error for a short body, or one with bytes left over.
    Result<void> finish() const {
        if (failed_) return make_error("a {} record is cut short: the stream is corrupt", what_);
        if (at_ != body_.size())
            return make_error("a {} record has {} stray bytes: the stream is corrupt", what_,
                              body_.size() - at_);
        return {};
    }

private:
    bool raw(void* p, std::size_t n) {
        if (failed_ || n > body_.size() - at_) return fail();
        std::memcpy(p, body_.data() + at_, n);
        at_ += n;
        return true;
    }
    bool fail() {
        failed_ = true;
        return false;
    }
    std::span<const std::uint8_t> body_;
    const char* what_;
    std::size_t at_ = 0;
    bool failed_ = false;
};

}  // namespace

std::vector<std::uint8_t> encode(const DomainInfo& info) {
    Encoder e;
    e.u32(info.domid);
    e.u32(info.vcpus);
    e.u64(info.memory_mib);
    e.u64(info.maxmem_mib);
    e.u64(info.nr_pfns);
    e.u64(info.tsc_khz);
    e.u64(info.hypercall_page);
    e.str(info.name);
    return std::move(e.out);
}

Result<DomainInfo> decode_domain_info(std::span<const std::uint8_t> body) {
    Decoder d(body, "domain_info");
    DomainInfo info;
    d.u32(info.domid), d.u32(info.vcpus), d.u64(info.memory_mib), d.u64(info.maxmem_mib);
    d.u64(info.nr_pfns), d.u64(info.tsc_khz), d.u64(info.hypercall_page), d.str(info.name);
    DOMUS_TRY_VOID(d.finish());
    if (info.vcpus == 0 || info.vcpus > 64)
        return make_error("domain_info: {} vCPUs is out of range", info.vcpus);
    if (info.nr_pfns == 0 || info.nr_pfns > (64ull << 30) / kPageSize)
        return make_error("domain_info: {} guest frames is out of range", info.nr_pfns);
    if (info.name.size() > 64) return make_error("domain_info: the name is too long");
    if (info.hypercall_page % kPageSize || info.hypercall_page / kPageSize >= info.nr_pfns)
        return make_error("domain_info: hypercall page {:#x} is not a guest frame",
                          info.hypercall_page);
    return info;
}

std::vector<std::uint8_t> encode(const GuestClockState& clock) {
    Encoder e;
    e.u64(clock.system_time_ns);
    e.u64(std::uint64_t(clock.wall_sec));
    e.u32(clock.wall_nsec);
    return std::move(e.out);
}

Result<GuestClockState> decode_guest_clock(std::span<const std::uint8_t> body) {
    Decoder d(body, "guest_clock");
    GuestClockState clock;
    std::uint64_t sec = 0;
    d.u64(clock.system_time_ns), d.u64(sec), d.u32(clock.wall_nsec);
    DOMUS_TRY_VOID(d.finish());
    clock.wall_sec = std::int64_t(sec);
    if (clock.wall_nsec >= 1'000'000'000u)
        return make_error("guest_clock: {} nanoseconds is out of range", clock.wall_nsec);
    return clock;
}

std::vector<std::span<const std::uint8_t>> page_batch_pieces(
    std::vector<std::uint8_t>& head, std::span<const std::uint64_t> entries,
    std::span<const std::span<const std::uint8_t>> pages) {
    Encoder e;
    e.u32(std::uint32_t(entries.size()));
    e.u32(0);
    for (auto entry : entries)
        e.u64(entry);
    head = std::move(e.out);
    std::vector<std::span<const std::uint8_t>> pieces{head};
    pieces.insert(pieces.end(), pages.begin(), pages.end());
    return pieces;
}

Result<PageBatchView> decode_page_batch(std::span<const std::uint8_t> body, std::uint64_t nr_pfns) {
    Decoder d(body, "page_data");
    std::uint32_t count = 0, reserved = 0;
    if (!d.u32(count) || !d.u32(reserved)) return d.finish().error();
    if (reserved != 0) return make_error("page_data: reserved field set: the stream is corrupt");
    if (count == 0 || count > kMaxBatchPages)
        return make_error("page_data: a batch of {} pages is out of range", count);
    PageBatchView batch;
    batch.entries.resize(count);
    std::uint64_t with_data = 0;
    for (auto& entry : batch.entries) {
        if (!d.u64(entry)) return d.finish().error();
        std::uint64_t pfn = entry & ~kZeroPage;
        if (pfn >= nr_pfns)
            return make_error("page_data: frame {:#x} is beyond the domain's {:#x} frames", pfn,
                              nr_pfns);
        if (!(entry & kZeroPage)) ++with_data;
    }
    if (d.left() != with_data * kPageSize)
        return make_error("page_data: {} bytes of pages for {} frames: the stream is corrupt",
                          d.left(), with_data);
    batch.data = body.subspan(body.size() - d.left());
    return batch;
}

std::vector<std::uint8_t> encode(const VcpuState& state) {
    Encoder e;
    e.u32(state.id);
    e.u32(std::uint32_t(state.blobs.size()));
    for (const auto& [tag, blob] : state.blobs) {
        e.u32(tag);
        e.bytes(blob);
    }
    return std::move(e.out);
}

Result<VcpuState> decode_vcpu_state(std::span<const std::uint8_t> body) {
    Decoder d(body, "vcpu_state");
    VcpuState state;
    std::uint32_t count = 0;
    if (!d.u32(state.id) || !d.u32(count)) return d.finish().error();
    if (count > 64) return make_error("vcpu_state: {} blobs is out of range", count);
    for (std::uint32_t i = 0; i < count; ++i) {
        std::uint32_t tag = 0;
        std::span<const std::uint8_t> blob;
        if (!d.u32(tag) || !d.bytes(blob)) return d.finish().error();
        if (!state.blobs.emplace(tag, std::vector(blob.begin(), blob.end())).second)
            return make_error("vcpu_state: blob {} given twice", tag);
    }
    DOMUS_TRY_VOID(d.finish());
    return state;
}

std::vector<std::uint8_t> encode(const KeyValues& pairs) {
    Encoder e;
    e.u32(std::uint32_t(pairs.size()));
    for (const auto& [key, value] : pairs) {
        e.str(key);
        e.str(value);
    }
    return std::move(e.out);
}

Result<KeyValues> decode_key_values(std::span<const std::uint8_t> body) {
    Decoder d(body, "key/value");
    std::uint32_t count = 0;
    if (!d.u32(count)) return d.finish().error();
    KeyValues pairs;
    for (std::uint32_t i = 0; i < count; ++i) {
        std::string key, value;
        if (!d.str(key) || !d.str(value)) return d.finish().error();
        pairs.emplace_back(std::move(key), std::move(value));
    }
    DOMUS_TRY_VOID(d.finish());
    return pairs;
}

std::uint64_t PhysmapState::current() const noexcept {
    std::uint64_t n = 0;
    for (std::uint64_t word : populated)
        n += std::uint64_t(std::popcount(word));
    return n;
}

std::vector<std::uint8_t> encode(const PhysmapState& physmap) {
    Encoder e;
    e.u64(physmap.frames);
    e.u64(physmap.maximum);
    e.u64(physmap.current());
    for (std::uint64_t word : physmap.populated)
        e.u64(word);
    return std::move(e.out);
}

Result<PhysmapState> decode_physmap(std::span<const std::uint8_t> body) {
    Decoder d(body, "physmap");
    PhysmapState physmap;
    std::uint64_t current = 0;
    d.u64(physmap.frames), d.u64(physmap.maximum), d.u64(current);
    if (physmap.frames == 0 || physmap.frames > kMaxPhysmapFrames)
        return make_error("a physmap record of {} frames: the stream is corrupt", physmap.frames);
    std::uint64_t words = (physmap.frames + 63) / 64;
    if (d.left() != words * 8)
        return make_error("a physmap record of {} bytes for {} frames: the stream is corrupt",
                          body.size(), physmap.frames);
    physmap.populated.resize(words);
    for (auto& word : physmap.populated)
        d.u64(word);
    DOMUS_TRY_VOID(d.finish());
    if (std::uint64_t tail = physmap.frames % 64; tail && (physmap.populated.back() >> tail) != 0)
        return make_error("a physmap record has bits beyond its {} frames: the stream is corrupt",
                          physmap.frames);
    if (physmap.current() != current)
        return make_error("a physmap record says {} frames but has {}: the stream is corrupt",
                          current, physmap.current());
    if (physmap.maximum < current || physmap.maximum > physmap.frames)
        return make_error(
            "a physmap record with a maximum of {} frames ({} held, {} in all): "
            "the stream is corrupt",
            physmap.maximum, current, physmap.frames);
    return physmap;
}

Result<StreamSummary> check_stream(ByteSource& source, bool expect_eof,
                                   const std::function<void(const Record&)>& visit) {
    StreamReader reader(source);
    StreamSummary summary;
    DOMUS_TRY(header, reader.header());
    if (header.flags & kFlagDisks)
        return make_error("a disk stream (--copy-disks), not a domain's");
    summary.header = header;
    bool have_domain = false, have_shared = false, have_clock = false;
    std::set<std::uint32_t> vcpus;
    for (;;) {
        DOMUS_TRY(record, reader.next());
        auto type = RecordType(record.type & ~kOptionalRecord);
        if (visit) visit(record);
        // Before domain_info only the configuration (version 2 puts it first).
        if (!have_domain && type != RecordType::domain_info &&
            (type != RecordType::xl_config || reader.records() != 1))
            return make_error("the stream does not start with domain_info but with {}",
                              record_type_name(record.type));
        switch (type) {
            case RecordType::end:
                break;
            case RecordType::domain_info: {
                if (have_domain) return make_error("domain_info given twice");
                DOMUS_TRY(info, decode_domain_info(record.body));
                summary.domain = std::move(info);
                have_domain = true;
                continue;
            }
            case RecordType::page_data: {
                DOMUS_TRY(batch, decode_page_batch(record.body, summary.domain.nr_pfns));
                for (auto entry : batch.entries)
                    ++(entry & kZeroPage ? summary.zero_pages : summary.pages);
                continue;
            }
            case RecordType::vcpu_state: {
                DOMUS_TRY(state, decode_vcpu_state(record.body));
                if (state.id >= summary.domain.vcpus)
                    return make_error("vcpu_state for vCPU {} of a {}-vCPU domain", state.id,
                                      summary.domain.vcpus);
                if (!vcpus.insert(state.id).second)
                    return make_error("vcpu_state for vCPU {} given twice", state.id);
                continue;
            }
            case RecordType::shared_info:
                if (record.body.size() != kPageSize)
                    return make_error("shared_info of {} bytes, not one page", record.body.size());
                have_shared = true;
                continue;
            case RecordType::guest_clock: {
                DOMUS_TRY(clock, decode_guest_clock(record.body));
                (void)clock;
                have_clock = true;
                continue;
            }
            case RecordType::disk_file:
            case RecordType::disk_data:
                return make_error("a {} record belongs in a disk stream, not a domain's",
                                  record_type_name(record.type));
            case RecordType::physmap: {
                DOMUS_TRY(physmap, decode_physmap(record.body));
                if (physmap.frames != summary.domain.nr_pfns)
                    return make_error("a physmap of {} frames for a domain of {}", physmap.frames,
                                      summary.domain.nr_pfns);
                continue;
            }
            case RecordType::grant_table:
            case RecordType::event_channels:
            case RecordType::store_subtree:
            case RecordType::xl_config: {
                if (type == RecordType::store_subtree) {
                    DOMUS_TRY(pairs, decode_key_values(record.body));
                    (void)pairs;
                }
                continue;
            }
        }
        break;  // end
    }
    if (vcpus.size() != summary.domain.vcpus)
        return make_error("the stream has the state of {} of the domain's {} vCPUs", vcpus.size(),
                          summary.domain.vcpus);
    if (!have_shared) return make_error("the stream has no shared_info record");
    if (!have_clock) return make_error("the stream has no guest_clock record");
    if (expect_eof) {
        std::uint8_t extra;
        DOMUS_TRY(n, source.read(std::span(&extra, 1)));
        if (n != 0) return make_error("bytes follow the end record: the stream is corrupt");
    }
    summary.records = reader.records();
    summary.bytes = reader.offset();
    return summary;
}

}  // namespace domus::migration
