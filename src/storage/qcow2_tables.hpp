// Qcow2Tables: the L1 table (held whole) and a bounded LRU cache of L2 tables, mapping
// guest clusters to L2 entries. Dirty tables are written back only through the ordered
// paths the image drives (write_dirty_l2, write_dirty_l1) or on eviction, after the
// `before_l2_write` barrier has made the refcounts and data they rely on durable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <set>
#include <unordered_map>
#include <vector>

#include "base/result.hpp"
#include "storage/qcow2_format.hpp"
#include "storage/qcow2_host_file.hpp"
#include "storage/qcow2_refcounts.hpp"

namespace domus::storage {

class Qcow2Tables {
public:
    using Barrier = std::function<Result<void>()>;

    // `refcounts` is null for read-only images. `cache_bytes` bounds the L2 cache (at
    // least two tables are kept).
    static Result<Qcow2Tables> load(Qcow2HostFile& file, const Qcow2Header& header,
                                    Qcow2Refcounts* refcounts, std::size_t cache_bytes,
                                    Barrier before_l2_write);

    // The raw L2 entry of a guest cluster; 0 when its L1 entry is empty.
    Result<std::uint64_t> entry(std::uint64_t guest_cluster);
    // Sets an L2 entry in the cache, allocating the L2 table when there is none.
    Result<void> set_entry(std::uint64_t guest_cluster, std::uint64_t value);
    // True when the guest cluster's L2 table exists (a lookup would not be empty by L1).
    bool has_l2(std::uint64_t guest_cluster) const;

    bool l2_dirty() const { return dirty_tables_ > 0; }
    bool l1_dirty() const { return !dirty_l1_.empty(); }
    Result<void> write_dirty_l2();
    Result<void> write_dirty_l1();

private:
    struct Table {
        std::uint64_t l1_index = 0;
        std::uint64_t host_offset = 0;
        std::vector<std::uint64_t> entries;  // raw (host-endian) L2 entries
        bool dirty = false;
    };

    Qcow2Tables(Qcow2HostFile& file, const Qcow2Header& header, Qcow2Refcounts* refcounts,
                std::size_t capacity, Barrier before_l2_write);

    Result<Table*> table(std::uint64_t l1_index, bool create);
    Result<void> make_room();
    Result<void> write_table(Table& table);

    Qcow2HostFile* file_;
    Qcow2Refcounts* refcounts_;
    std::uint32_t l2_bits_;
    std::uint64_t l1_offset_;
    std::vector<std::uint64_t> l1_;  // raw L1 entries
    std::set<std::uint64_t> dirty_l1_;
    std::list<Table> lru_;  // front = most recently used
    std::unordered_map<std::uint64_t, std::list<Table>::iterator> cached_;
    std::size_t capacity_;
    std::size_t dirty_tables_ = 0;
    Barrier before_l2_write_;
};

}  // namespace domus::storage
