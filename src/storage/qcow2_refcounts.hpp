// Qcow2Refcounts: the refcount table and blocks of a writable qcow2 image, and the
// cluster allocator built on them.
//
// Crash safety rests on one invariant: on disk, a cluster's refcount is never lower than
// the number of references to it. So increments reach the disk before the references
// (the image writes dirty blocks and syncs before it writes L2/L1 tables), and
// decrements are applied only after the dropped references are durable
// (release_after_flush). A crash can leave leaks (refcount too high), never corruption.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "base/result.hpp"
#include "storage/qcow2_format.hpp"
#include "storage/qcow2_host_file.hpp"

namespace domus::storage {

class Qcow2Refcounts {
public:
    // Reads the refcount table; blocks are loaded on first use and stay cached.
    static Result<Qcow2Refcounts> load(Qcow2HostFile& file, const Qcow2Header& header);

    Result<std::uint64_t> get(std::uint64_t cluster_index);

    // Finds a free cluster, gives it refcount 1 (in memory) and returns its host offset.
    Result<std::uint64_t> allocate();

    // Decrements the cluster's refcount at the next apply_releases(), which the image
    // calls once the metadata that stopped referencing it is durable.
    void release_after_flush(std::uint64_t host_offset) { pending_release_.push_back(host_offset); }
    bool has_pending_releases() const { return !pending_release_.empty(); }
    Result<void> apply_releases();

    bool dirty() const { return dirty_blocks_ > 0; }
    // Writes every dirty refcount block in place (no sync: the caller orders it).
    Result<void> write_dirty();

private:
    struct Block {
        std::uint64_t host_offset = 0;
        std::vector<std::byte> data;
        bool dirty = false;
    };

    Qcow2Refcounts(Qcow2HostFile& file, const Qcow2Header& header);

    std::uint64_t entries_per_block() const { return (file_->cluster_size() * 8) >> order_; }
    std::uint64_t read_entry(const Block& block, std::uint64_t index) const;
    void write_entry(Block& block, std::uint64_t index, std::uint64_t value);
    Result<void> set(std::uint64_t cluster_index, std::uint64_t value);
    Result<Block*> block(std::uint64_t block_index);
    Result<Block*> create_block(std::uint64_t block_index, std::uint64_t avoid_cluster);
    Result<void> grow_table(std::uint64_t min_entries, std::uint64_t avoid_cluster);
    std::uint64_t end_cluster() const;

    Qcow2HostFile* file_;
    std::uint32_t order_;
    std::uint64_t table_offset_;
    std::uint32_t table_clusters_;
    std::vector<std::uint64_t> table_;  // host offsets of refcount blocks, 0 = none
    std::unordered_map<std::uint64_t, Block> blocks_;
    std::size_t dirty_blocks_ = 0;
    std::uint64_t free_hint_ = 0;  // no free cluster below this index
    std::vector<std::uint64_t> pending_release_;
};

}  // namespace domus::storage
