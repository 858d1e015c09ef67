// The bodies of the migration stream's records (docs/migration-stream.md): encoders and
// checked decoders, and check_stream, which reads a whole stream and refuses it unless
// every record is intact and the set of records makes a domain.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "migration/stream.hpp"

namespace domus::migration {

inline constexpr std::size_t kPageSize = 4096;
inline constexpr std::uint32_t kMaxBatchPages = 1024;
inline constexpr std::uint64_t kZeroPage = 1ull << 63;  // batch entry: the frame is all zero

struct DomainInfo {
    std::uint32_t domid = 0;
    std::uint32_t vcpus = 1;
    std::uint64_t memory_mib = 0;
    std::uint64_t maxmem_mib = 0;
    std::uint64_t nr_pfns = 0;         // guest frames: every page_data frame is below this
    std::uint64_t tsc_khz = 0;         // the source's guest TSC frequency
    std::uint64_t hypercall_page = 0;  // guest-physical, inside the guest's image
    std::string name;
};
std::vector<std::uint8_t> encode(const DomainInfo& info);
Result<DomainInfo> decode_domain_info(std::span<const std::uint8_t> body);

// Guest time at the moment of the save: the destination continues system time from here
// (so it never goes backwards) and keeps wallclock consistent with it.
struct GuestClockState {
    std::uint64_t system_time_ns = 0;
    std::int64_t wall_sec = 0;  // the wallclock matching system_time_ns
    std::uint32_t wall_nsec = 0;
};
std::vector<std::uint8_t> encode(const GuestClockState& clock);
Result<GuestClockState> decode_guest_clock(std::span<const std::uint8_t> body);

// Which frames hold memory (ballooning): `populated` has one bit per frame (bit f % 64
// of word f / 64), `maximum` is the most the guest may hold (mem-max). Frames the guest
// gave back travel as clear bits; the destination keeps them unpopulated.
inline constexpr std::uint64_t kMaxPhysmapFrames = 64ull << 18;  // 64 GiB of 4 KiB frames
struct PhysmapState {
    std::uint64_t frames = 0;
    std::uint64_t maximum = 0;
    std::vector<std::uint64_t> populated;    // (frames + 63) / 64 words
    std::uint64_t current() const noexcept;  // bits set
};
std::vector<std::uint8_t> encode(const PhysmapState& physmap);
Result<PhysmapState> decode_physmap(std::span<const std::uint8_t> body);

// One batch of frames: entries are frame numbers, with kZeroPage for frames that are all
// zero and carry no data; the others' pages follow, in entry order.
struct PageBatchView {
    std::vector<std::uint64_t> entries;
    std::span<const std::uint8_t> data;  // 4096 bytes for each non-zero entry
};
// The record's body in pieces for StreamWriter::record: `head` is filled here.
std::vector<std::span<const std::uint8_t>> page_batch_pieces(
    std::vector<std::uint8_t>& head, std::span<const std::uint64_t> entries,
    std::span<const std::span<const std::uint8_t>> pages);
Result<PageBatchView> decode_page_batch(std::span<const std::uint8_t> body, std::uint64_t nr_pfns);

// A vCPU's state as tagged blobs (KVM's regs, sregs, xsave, MSRs...), opaque here.
struct VcpuState {
    std::uint32_t id = 0;
    std::map<std::uint32_t, std::vector<std::uint8_t>> blobs;
};
std::vector<std::uint8_t> encode(const VcpuState& state);
Result<VcpuState> decode_vcpu_state(std::span<const std::uint8_t> body);

// Key/value pairs (the store subtree relative to the domain's home, opaque monitor
// tables): each key and value is a u32 length and bytes.
using KeyValues = std::vector<std::pair<std::string, std::string>>;
std::vector<std::uint8_t> encode(const KeyValues& pairs);
Result<KeyValues> decode_key_values(std::span<const std::uint8_t> body);

struct StreamSummary {
    ImageHeader header;
    DomainInfo domain;
    std::uint64_t records = 0;
    std::uint64_t pages = 0;       // page entries with data
    std::uint64_t zero_pages = 0;  // entries without
    std::uint64_t bytes = 0;
};
// Reads the whole stream and checks it: framing, checksums, each body, the order (domain
// info first, end last, nothing after it when `expect_eof`) and that every vCPU's state,
// the shared info and the clock are there. Applies nothing.
// `visit`, when given, sees every record that passed (the toolstack takes the xl
// configuration and store subtree from a file this way).
Result<StreamSummary> check_stream(ByteSource& source, bool expect_eof = true,
                                   const std::function<void(const Record&)>& visit = {});

}  // namespace domus::migration
