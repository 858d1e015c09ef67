// GrantTable: the guest's grant-table v1 entries (in its own registered pages) and the
// only way backends touch guest pages: map a grant, or copy through one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "base/log.hpp"
#include "base/result.hpp"
#include "monitor/guest_memory.hpp"

#include <domus/abi/grant_table.h>

namespace domus::monitor {

class GrantTable;

// Counters of grant uses refused, by cause (each also a rate-limited warning).
struct GrantTableStats {
    std::uint64_t maps = 0;           // successful map() calls, copies included
    std::uint64_t bad_ref = 0;        // GNTST_bad_gntref: no table or ref out of range
    std::uint64_t bad_type = 0;       // entry not GTF_permit_access
    std::uint64_t bad_domain = 0;     // entry names another grantee
    std::uint64_t readonly = 0;       // write use of a GTF_readonly grant
    std::uint64_t unstable = 0;       // entry kept changing under the compare-exchange
    std::uint64_t bad_frame = 0;      // GNTST_bad_page
    std::uint64_t bad_copy_arg = 0;   // GNTST_bad_copy_arg
    std::uint64_t bad_set_table = 0;  // refused registrations
};

// One use of a grant: while alive, the guest's entry keeps GTF_reading (and
// GTF_writing for a writable mapping) and the page stays addressable through page().
// Move-only; the destructor releases the use. Must not outlive its GrantTable.
class GrantMapping {
public:
    GrantMapping() = default;
    GrantMapping(GrantMapping&& o) noexcept { *this = std::move(o); }
    GrantMapping& operator=(GrantMapping&& o) noexcept;
    ~GrantMapping() { reset(); }

    // The granted 4 KiB page in guest memory. The guest may write it concurrently
    // (it is shared memory): copy out what you check, as with rings.
    std::span<std::byte> page() const noexcept { return page_; }
    grant_ref_t ref() const noexcept { return ref_; }
    bool writable() const noexcept { return writable_; }
    std::uint64_t gfn() const noexcept { return gfn_; }
    explicit operator bool() const noexcept { return table_ != nullptr; }
    void reset() noexcept;

private:
    friend class GrantTable;
    GrantMapping(GrantTable* table, grant_ref_t ref, bool writable, std::uint64_t gfn,
                 std::span<std::byte> page) noexcept
        : table_(table), ref_(ref), writable_(writable), gfn_(gfn), page_(page) {}

    GrantTable* table_ = nullptr;
    grant_ref_t ref_ = 0;
    bool writable_ = false;
    std::uint64_t gfn_ = 0;
    std::span<std::byte> page_;
};

// Several grants in use together (one request's pages): what GrantMapping is for one,
// taken and released under one lock. Move-only; the destructor (or reset) releases
// every use. Must not outlive its GrantTable. Its arrays keep their capacity across
// reset(), so a batch reused for request after request allocates nothing.
class GrantBatch {
public:
    GrantBatch() = default;
    GrantBatch(GrantBatch&& o) noexcept { *this = std::move(o); }
    GrantBatch& operator=(GrantBatch&& o) noexcept;
    ~GrantBatch() { reset(); }

    std::size_t size() const noexcept { return pages_.size(); }
    // The granted page of the i-th ref (shared memory, as GrantMapping::page()).
    std::span<std::byte> page(std::size_t i) const noexcept { return pages_[i]; }
    void reset() noexcept;

private:
    friend class GrantTable;
    GrantTable* table_ = nullptr;
    bool writable_ = false;
    std::vector<grant_ref_t> refs_;
    std::vector<std::span<std::byte>> pages_;
};

// Thread-safe: vCPU threads (the hypercalls) and backend threads call it concurrently.
// Errors are Result errors whose `code` is the GNTST_* status (see grant_table.h for
// which cause gives which code) and whose message names the cause.
class GrantTable {
public:
    static constexpr std::uint32_t kEntriesPerFrame = DOMUS_GNTTAB_ENTRIES_PER_FRAME;
    static constexpr std::uint32_t kMaxFrames = DOMUS_GNTTAB_MAX_FRAMES;
    static constexpr std::uint64_t kPageBytes = XEN_PAGE_SIZE;

    // `owner`: the granting domain's id. Granted and table frames must lie in
    // [ram_begin, ram_end) (above the NULL guard, below the monitor area).
    GrantTable(GuestMemory& memory, domid_t owner, std::uint64_t ram_begin, std::uint64_t ram_end);
    ~GrantTable();
    GrantTable(const GrantTable&) = delete;
    GrantTable& operator=(const GrantTable&) = delete;

    // GNTTABOP_domus_set_table: `frame_list` is a guest address of nr_frames xen_pfn_t,
    // copied once. Returns a GNTST_* status (GNTST_okay on success).
    std::int16_t set_table(std::uint64_t frame_list, std::uint32_t nr_frames) noexcept;
    std::uint32_t nr_frames() const noexcept;
    std::uint32_t nr_entries() const noexcept { return nr_frames() * kEntriesPerFrame; }

    // Marks grant `ref` in use by `grantee` (for writing too if `writable`) and returns
    // its page. Several mappings of one ref may coexist; the flags drop with the last.
    Result<GrantMapping> map(domid_t grantee, grant_ref_t ref, bool writable) noexcept;
    // map() for every ref in `refs`, all or none: the first ref refused fails the call
    // (with its error) and the uses already taken are given back. `batch` is reset first.
    Result<void> map_batch(domid_t grantee, std::span<const grant_ref_t> refs, bool writable,
                           GrantBatch& batch) noexcept;

    // Copies bytes between a host buffer and [offset, offset + size) of a granted page.
    Result<void> copy_from_grant(domid_t grantee, grant_ref_t ref, std::uint32_t offset,
                                 std::span<std::byte> out) noexcept;
    Result<void> copy_to_grant(domid_t grantee, grant_ref_t ref, std::uint32_t offset,
                               std::span<const std::byte> in) noexcept;
    // One GNTTABOP_copy element issued by the owner itself (grants to the owner).
    std::int16_t copy(const gnttab_copy& op) noexcept;

    std::size_t grants_in_use() const noexcept;
    GrantTableStats stats() const noexcept;

    // Live migration: KVM's dirty log sees the guest's own writes only, not the backends'
    // through their mappings. While tracking, every frame mapped writable is noted;
    // written_frames() returns those and the frames mapped writable now (a backend may
    // write them at any time), and starts the next round.
    void track_writes(bool on) noexcept;
    std::vector<std::uint64_t> written_frames();

private:
    friend class GrantMapping;
    friend class GrantBatch;
    struct Active {                 // one ref; in use while readers > 0
        std::uint32_t readers = 0;  // mappings, writable ones included
        std::uint32_t writers = 0;
        std::uint32_t gfn = 0;  // captured at the first use, then fixed (RAM < 16 TiB)
        domid_t grantee = 0;
    };

    grant_entry_v1* entry(grant_ref_t ref) const noexcept;  // caller holds mutex_
    bool usable_frame(std::uint64_t gfn) const noexcept;
    Error refuse(std::uint64_t GrantTableStats::*counter, std::int16_t status,
                 std::string message) noexcept;
    // One use of `ref` (caller holds mutex_): its page and frame, or the refusal.
    Result<std::span<std::byte>> use_locked(domid_t grantee, grant_ref_t ref, bool writable,
                                            std::uint64_t& gfn) noexcept;
    void release(grant_ref_t ref, bool writable) noexcept;
    void release_locked(grant_ref_t ref, bool writable) noexcept;
    void release_batch(std::span<const grant_ref_t> refs, bool writable) noexcept;

    GuestMemory& memory_;
    const domid_t owner_;
    const std::uint64_t ram_begin_;
    const std::uint64_t ram_end_;

    mutable std::mutex mutex_;  // guards everything below
    std::vector<std::byte*> frames_;
    std::vector<Active> active_;  // by ref, one per entry of the table: no lookups to pay
    std::size_t in_use_ = 0;      // refs with readers
    bool tracking_ = false;
    std::vector<std::uint64_t> written_;  // frames mapped writable since the last round
    GrantTableStats stats_;
    log::RateLimit warn_limit_;
};

}  // namespace domus::monitor
