// Qcow2Image: a qcow2 image (version 3 read/write, version 2 read-only) as a BlockImage,
// with backing chains, copy-on-write and zero clusters.
//
// Write ordering (what makes a kill -9 at any point safe):
//   data cluster written -> [refcount blocks written, fdatasync] -> L2 tables written,
//   fdatasync -> L1 entries written, fdatasync -> freed clusters' refcounts decremented.
// Metadata lives in caches between flushes; flush() (or the destructor, or evicting a
// dirty L2 table) runs that sequence, so on disk refcounts never undercount references
// and no L2 entry points at data that is not durable.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/fd.hpp"
#include "storage/block_image.hpp"
#include "storage/image_lock.hpp"
#include "storage/qcow2_backing.hpp"
#include "storage/qcow2_format.hpp"
#include "storage/qcow2_host_file.hpp"
#include "storage/qcow2_refcounts.hpp"
#include "storage/qcow2_tables.hpp"

namespace domus::storage {

struct Qcow2Options {
    bool read_only = false;
    std::size_t l2_cache_bytes = 2u << 20;  // bounded metadata cache
    bool lock = true;                       // as RawOptions::lock; for the whole chain
};

class Qcow2Image final : public BlockImage {
public:
    static Result<std::unique_ptr<Qcow2Image>> open(const std::string& path, Qcow2Options options,
                                                    BackingContext context = {});
    // Flushes: metadata still in the caches is written in the safe order.
    ~Qcow2Image() override;
    Qcow2Image(const Qcow2Image&) = delete;
    Qcow2Image& operator=(const Qcow2Image&) = delete;

    std::uint64_t size_bytes() const override { return header_.size; }
    bool read_only() const override { return read_only_; }
    Result<void> read(std::uint64_t offset, std::span<std::byte> buffer) override;
    Result<void> write(std::uint64_t offset, std::span<const std::byte> data) override;
    // Zero-copy: runs of clusters that lie back to back in the file move with one
    // preadv/pwritev straight into or out of the pieces (a sequential request is usually
    // one system call). Writes that allocate (copy-on-write) take write()'s path.
    Result<void> readv(std::uint64_t offset, std::span<const iovec> pieces) override;
    Result<void> writev(std::uint64_t offset, std::span<const iovec> pieces) override;
    Result<void> flush() override;
    // Allocated clusters of this image (writable in place when ours alone), zero clusters,
    // and the backing chain's extents for clusters this image does not have.
    bool maps_host_extents() const override { return true; }
    Result<bool> host_extents(std::uint64_t offset, std::uint64_t length, bool write,
                              std::vector<HostExtent>& extents) override;
    // Whole clusters become zero clusters (their space is freed after the next flush);
    // partial clusters are overwritten with zeros.
    Result<void> discard(std::uint64_t offset, std::uint64_t length) override;

    const Qcow2Header& header() const { return header_; }
    BlockImage* backing() const { return backing_.get(); }
    const std::string& path() const { return path_; }

    // What one guest cluster holds in this image itself (the backing file not asked):
    // what a merge (image_merge.hpp) copies and what it must not overwrite.
    enum class ClusterState { unallocated, zero, data };
    Result<ClusterState> cluster_state(std::uint64_t guest_cluster);

    // Rebase in place: the image reads through `backing_name` (as the header stores it:
    // absolute, or relative to this image's directory; `format` recorded) from now on, on
    // disk and in memory. The caller guarantees this changes no byte the image reads (every
    // cluster the old chain supplied and the new one would not is in this image). Order:
    // flush, open the new chain, rewrite the header's backing fields (one sector write
    // when they fit in the first 512 bytes, as QEMU's header updates), fdatasync, close
    // the old chain. The same name again reopens the chain (files replaced under it).
    Result<void> set_backing(const std::string& backing_name, Format format);

private:
    enum class Kind { unallocated, zero, normal, compressed };
    struct ClusterMapping {
        Kind kind;
        std::uint64_t host_offset;  // normal, or a preallocated zero cluster
        bool copied;                // refcount is exactly one: writable in place
    };

    Qcow2Image() = default;

    Result<ClusterMapping> lookup(std::uint64_t guest_cluster);
    // The cluster holding guest_offset, for data access: compressed ones are refused.
    Result<ClusterMapping> lookup_data(std::uint64_t guest_offset);
    Result<void> write_chunk(std::uint64_t guest_offset, std::span<const std::byte> data);
    Result<void> discard_cluster(std::uint64_t guest_cluster);
    Result<void> readv_backing(std::uint64_t guest_offset, std::span<const iovec> pieces);
    // The longest run from guest_offset (at most `length`) of clusters of first's kind
    // that readv/writev can move in one go: normal clusters back to back in the file, or
    // clusters that all read from the backing file or all read as zeros.
    Result<std::uint64_t> run_length(std::uint64_t guest_offset, std::uint64_t length,
                                     const ClusterMapping& first);
    // Makes refcount increments and data durable: what an L2 write may rely on.
    Result<void> metadata_barrier();

    std::string path_;
    Fd fd_;
    ImageLock lock_;  // released after the destructor's flush
    Qcow2Header header_;
    Qcow2HostFile file_;
    std::optional<Qcow2Refcounts> refcounts_;  // writable images only
    std::optional<Qcow2Tables> tables_;
    std::unique_ptr<BlockImage> backing_;
    bool read_only_ = true;
    bool lock_chain_ = true;         // Qcow2Options::lock, for a chain set_backing() opens
    std::vector<iovec> run_;         // readv/writev scratch: the pieces of one run
    std::vector<std::byte> bounce_;  // writev: one cluster's data on the allocating path
};

}  // namespace domus::storage
