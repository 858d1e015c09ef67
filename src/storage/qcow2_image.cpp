// Qcow2Image: open (header, tables, backing), cluster-by-cluster read/write/discard with
// copy-on-write, and the ordered flush.
#include "storage/qcow2_image.hpp"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/host_files.hpp"
#include "base/log.hpp"
#include "storage/file_io.hpp"
#include "storage/io_vector.hpp"

namespace domus::storage {

Result<std::unique_ptr<Qcow2Image>> Qcow2Image::open(const std::string& path, Qcow2Options options,
                                                     BackingContext context) {
    std::unique_ptr<Qcow2Image> image(new Qcow2Image());
    image->path_ = path;
    image->read_only_ = options.read_only;
    image->lock_chain_ = options.lock;
    DOMUS_TRY(opened, HostFiles::process().open(path, options.read_only ? O_RDONLY : O_RDWR));
    image->fd_ = std::move(opened);
    int fd = image->fd_.get();
    if (options.lock) {
        // Before the first byte is read: a writer elsewhere may be mid-update.
        DOMUS_TRY(lock,
                  ImageLock::acquire(fd, path, options.read_only ? kReaderLock : kWriterLock));
        image->lock_ = std::move(lock);
    }
    DOMUS_TRY(size, file_size(fd));
    // The header and its extensions fill at most the first cluster: read that much once
    // the cluster size is known (a 2 MiB read per open made long chains slow to open).
    std::uint64_t first_read = std::min<std::uint64_t>(size, 1ull << kMinClusterBits);
    std::vector<std::byte> cluster0(first_read);
    DOMUS_TRY_VOID(read_exact(fd, cluster0, 0));
    if (first_read >= 24) {
        std::uint32_t bits = std::uint32_t(load_be32(&cluster0[20]));
        if (bits > kMinClusterBits && bits <= kMaxClusterBits) {
            cluster0.resize(std::min<std::uint64_t>(size, 1ull << bits));
            DOMUS_TRY_VOID(read_exact(fd, std::span(cluster0).subspan(first_read), first_read));
        }
    }
    auto header = parse_header(cluster0, size);
    if (!header) return make_error("{}: {}", path, header.error().message);
    image->header_ = std::move(*header);
    const Qcow2Header& h = image->header_;
    if (!options.read_only) {
        if (auto problem = writable_problem(h)) return make_error("{}: {}", path, *problem);
    }
    image->file_ = Qcow2HostFile{fd, h.cluster_bits, size};

    if (!options.read_only) {
        auto refcounts = Qcow2Refcounts::load(image->file_, h);
        if (!refcounts) return make_error("{}: {}", path, refcounts.error().message);
        image->refcounts_.emplace(std::move(*refcounts));
    }
    Qcow2Image* self = image.get();
    auto tables =
        Qcow2Tables::load(image->file_, h, image->refcounts_ ? &*image->refcounts_ : nullptr,
                          options.l2_cache_bytes, [self] { return self->metadata_barrier(); });
    if (!tables) return make_error("{}: {}", path, tables.error().message);
    image->tables_.emplace(std::move(*tables));

    if (!options.read_only && h.autoclear_features != 0) {
        // Autoclear features (bitmaps) describe data we are about to change without
        // updating them: the spec says a writer that does not know them clears them.
        std::byte zero[8] = {};
        DOMUS_TRY_VOID(write_all(fd, zero, kAutoclearField));
        DOMUS_TRY_VOID(sync_data(fd));
        image->header_.autoclear_features = 0;
    }

    if (!h.backing_file.empty()) {
        DOMUS_TRY(format, backing_format_from_name(h.backing_format));
        std::string backing_path = resolve_backing_path(path, h.backing_file);
        ++context.depth;
        context.lock = options.lock;
        auto backing = open_image_chain(backing_path, format, true, std::move(context));
        if (!backing)
            return make_error("{}: backing file {}: {}", path, h.backing_file,
                              backing.error().message);
        image->backing_ = std::move(*backing);
    }
    return image;
}

Qcow2Image::~Qcow2Image() {
    if (read_only_ || !tables_) return;
    if (auto done = flush(); !done)
        DOMUS_LOG_ERROR("storage", "{}: flush on close failed: {}", path_, done.error().message);
}

Result<Qcow2Image::ClusterMapping> Qcow2Image::lookup(std::uint64_t guest_cluster) {
    DOMUS_TRY(entry, tables_->entry(guest_cluster));
    bool copied = (entry & kOflagCopied) != 0;
    if (entry & kOflagCompressed) return ClusterMapping{Kind::compressed, 0, false};
    std::uint64_t host = entry & kOffsetMask;
    if (host != 0 && !file_.holds_cluster(host))
        return make_error(
            "{}: data cluster at {:#x} (of guest cluster {}) is unaligned or "
            "outside the file ({:#x} bytes)",
            path_, host, guest_cluster, file_.end);
    if (header_.version >= 3 && (entry & kOflagZero))
        return ClusterMapping{Kind::zero, host, copied};
    if (host == 0) return ClusterMapping{Kind::unallocated, 0, false};
    return ClusterMapping{Kind::normal, host, copied};
}

Result<Qcow2Image::ClusterState> Qcow2Image::cluster_state(std::uint64_t guest_cluster) {
    DOMUS_TRY(mapping, lookup(guest_cluster));
    switch (mapping.kind) {
        case Kind::unallocated:
            return ClusterState::unallocated;
        case Kind::zero:
            return ClusterState::zero;
        case Kind::normal:
            return ClusterState::data;
        case Kind::compressed:
            break;
    }
    return make_error("{}: compressed clusters not supported", path_);
}

Result<void> Qcow2Image::set_backing(const std::string& backing_name, Format format) {
    if (read_only_) return make_error("{}: image is read-only", path_);
    if (backing_name.empty()) return make_error("{}: no backing file given", path_);
    DOMUS_TRY_VOID(flush());
    DOMUS_TRY(resolved, HostFiles::process().real_path(path_));
    BackingContext context{1, {std::move(resolved)}, lock_chain_};
    DOMUS_TRY(chain, open_image_chain(resolve_backing_path(path_, backing_name), format, true,
                                      std::move(context)));
    if (chain->size_bytes() < header_.size)
        return make_error("{}: backing file {} is smaller than the image", path_, backing_name);
    Qcow2Header next = header_;
    next.backing_file = backing_name;
    next.backing_format = format == Format::autodetect ? "" : format_name(format);
    DOMUS_TRY(encoded, encode_header(next));
    // Only the bytes up to the end of the name change meaning; the rest of the header
    // cluster (old extensions past the new end marker) is ignored by every reader.
    std::size_t used = std::size_t(load_be64(&encoded[8]) + load_be32(&encoded[16]));
    std::size_t bytes = (used + kSectorSize - 1) & ~std::size_t(kSectorSize - 1);
    DOMUS_TRY_VOID(write_all(fd_.get(), std::span(encoded).first(bytes), 0));
    DOMUS_TRY_VOID(sync_data(fd_.get()));
    header_.backing_file = next.backing_file;
    header_.backing_format = next.backing_format;
    backing_ = std::move(chain);
    return {};
}

Result<void> Qcow2Image::read(std::uint64_t offset, std::span<std::byte> buffer) {
    const iovec whole{buffer.data(), buffer.size()};
    return readv(offset, {&whole, 1});
}

Result<Qcow2Image::ClusterMapping> Qcow2Image::lookup_data(std::uint64_t guest_offset) {
    DOMUS_TRY(mapping, lookup(guest_offset >> header_.cluster_bits));
    if (mapping.kind == Kind::compressed)
        return make_error("qcow2: compressed clusters not supported");
    return mapping;
}

Result<void> Qcow2Image::readv_backing(std::uint64_t guest_offset, std::span<const iovec> pieces) {
    std::uint64_t total = io_bytes(pieces);
    std::uint64_t from_backing = 0;
    if (backing_ && guest_offset < backing_->size_bytes())
        from_backing = std::min(total, backing_->size_bytes() - guest_offset) & ~(kSectorSize - 1);
    IoCursor cursor(pieces);
    std::vector<iovec> part;
    if (from_backing > 0) {
        cursor.take(from_backing, part);
        DOMUS_TRY_VOID(backing_->readv(guest_offset, part));
        part.clear();
    }
    cursor.take(total - from_backing, part);
    io_zero(part);
    return {};
}

Result<std::uint64_t> Qcow2Image::run_length(std::uint64_t guest_offset, std::uint64_t length,
                                             const ClusterMapping& first) {
    const std::uint64_t cluster_size = file_.cluster_size();
    std::uint64_t in_cluster = guest_offset & (cluster_size - 1);
    std::uint64_t run = std::min(length, cluster_size - in_cluster);
    while (run < length) {
        DOMUS_TRY(next, lookup((guest_offset + run) >> header_.cluster_bits));
        bool joins = next.kind == first.kind;
        if (first.kind == Kind::normal)
            joins = joins && next.copied == first.copied &&
                    next.host_offset == first.host_offset + in_cluster + run;
        if (!joins) break;
        run += std::min(length - run, cluster_size);
    }
    return run;
}

Result<void> Qcow2Image::readv(std::uint64_t offset, std::span<const iovec> pieces) {
    std::uint64_t left = io_bytes(pieces);
    DOMUS_TRY_VOID(check_request(*this, offset, left));
    IoCursor cursor(pieces);
    while (left > 0) {
        DOMUS_TRY(first, lookup_data(offset));
        DOMUS_TRY(run, run_length(offset, left, first));
        run_.clear();
        cursor.take(run, run_);
        if (first.kind == Kind::normal) {
            std::uint64_t in_cluster = offset & (file_.cluster_size() - 1);
            DOMUS_TRY_VOID(read_exact_v(fd_.get(), run_, first.host_offset + in_cluster));
        } else if (first.kind == Kind::zero) {
            io_zero(run_);
        } else {
            DOMUS_TRY_VOID(readv_backing(offset, run_));
        }
        offset += run;
        left -= run;
    }
    return {};
}

Result<bool> Qcow2Image::host_extents(std::uint64_t offset, std::uint64_t length, bool write,
                                      std::vector<HostExtent>& extents) {
    if (write && read_only_) return false;  // writev() reports it
    DOMUS_TRY_VOID(check_request(*this, offset, length));
    while (length > 0) {
        DOMUS_TRY(first, lookup(offset >> header_.cluster_bits));
        if (first.kind == Kind::compressed) return false;
        // Anything but our own allocated cluster needs an allocation (and an L2 update).
        if (write && !(first.kind == Kind::normal && first.copied)) return false;
        DOMUS_TRY(run, run_length(offset, length, first));
        if (first.kind == Kind::normal) {
            std::uint64_t in_cluster = offset & (file_.cluster_size() - 1);
            append_host_extent(extents, {fd_.get(), first.host_offset + in_cluster, run});
        } else if (first.kind == Kind::zero) {
            append_host_extent(extents, {-1, 0, run});
        } else {
            // As readv_backing(): the backing file's bytes, zeros past its end.
            std::uint64_t from_backing = 0;
            if (backing_ && offset < backing_->size_bytes())
                from_backing = std::min(run, backing_->size_bytes() - offset) & ~(kSectorSize - 1);
            if (from_backing > 0) {
                DOMUS_TRY(mapped, backing_->host_extents(offset, from_backing, false, extents));
                if (!mapped) return false;
            }
            append_host_extent(extents, {-1, 0, run - from_backing});
        }
        offset += run;
        length -= run;
    }
    return true;
}

Result<void> Qcow2Image::writev(std::uint64_t offset, std::span<const iovec> pieces) {
    if (read_only_) return make_error("{}: image is read-only", path_);
    std::uint64_t left = io_bytes(pieces);
    DOMUS_TRY_VOID(check_request(*this, offset, left));
    IoCursor cursor(pieces);
    while (left > 0) {
        DOMUS_TRY(first, lookup_data(offset));
        // Our own clusters are overwritten in place (as write_chunk does), a run at a time;
        // a cluster that must be allocated (or is refused) goes through write_chunk alone.
        bool in_place = first.kind == Kind::normal && first.copied;
        std::uint64_t in_cluster = offset & (file_.cluster_size() - 1);
        std::uint64_t run = std::min(left, file_.cluster_size() - in_cluster);
        if (in_place) {
            DOMUS_TRY(length, run_length(offset, left, first));
            run = length;
        }
        run_.clear();
        cursor.take(run, run_);
        if (in_place) {
            DOMUS_TRY_VOID(write_all_v(fd_.get(), run_, first.host_offset + in_cluster));
        } else {
            bounce_.resize(run);
            io_gather(run_, bounce_.data());
            DOMUS_TRY_VOID(write_chunk(offset, bounce_));
        }
        offset += run;
        left -= run;
    }
    return {};
}

Result<void> Qcow2Image::write_chunk(std::uint64_t guest_offset, std::span<const std::byte> data) {
    const std::uint64_t cluster_size = file_.cluster_size();
    const std::uint64_t guest_cluster = guest_offset >> header_.cluster_bits;
    const std::uint64_t in_cluster = guest_offset & (cluster_size - 1);
    DOMUS_TRY(mapping, lookup_data(guest_offset));
    if (mapping.kind == Kind::normal) {
        if (!mapping.copied)
            return make_error("qcow2: shared cluster (internal snapshot) cannot be written");
        return write_all(fd_.get(), data, mapping.host_offset + in_cluster);
    }

    // Copy-on-write: build the whole new cluster, write it somewhere no L2 entry
    // points yet, and only then (in the cache) point the L2 entry at it.
    std::vector<std::byte> cluster(cluster_size);
    if (data.size() < cluster_size && mapping.kind == Kind::unallocated) {
        const iovec whole{cluster.data(), cluster.size()};
        DOMUS_TRY_VOID(readv_backing(guest_cluster << header_.cluster_bits, {&whole, 1}));
    }
    std::memcpy(cluster.data() + in_cluster, data.data(), data.size());
    std::uint64_t host = 0;
    if (mapping.kind == Kind::zero && mapping.host_offset != 0 && mapping.copied) {
        host = mapping.host_offset;  // preallocated zero cluster: ours to overwrite
    } else {
        DOMUS_TRY(allocated, refcounts_->allocate());
        host = allocated;
        if (mapping.kind == Kind::zero && mapping.host_offset != 0)
            refcounts_->release_after_flush(mapping.host_offset);
    }
    DOMUS_TRY_VOID(write_all(fd_.get(), cluster, host));
    return tables_->set_entry(guest_cluster, host | kOflagCopied);
}

Result<void> Qcow2Image::write(std::uint64_t offset, std::span<const std::byte> data) {
    if (read_only_) return make_error("{}: image is read-only", path_);
    DOMUS_TRY_VOID(check_request(*this, offset, data.size()));
    const std::uint64_t cluster_size = file_.cluster_size();
    while (!data.empty()) {
        std::size_t chunk = static_cast<std::size_t>(
            std::min<std::uint64_t>(data.size(), cluster_size - (offset & (cluster_size - 1))));
        DOMUS_TRY_VOID(write_chunk(offset, data.first(chunk)));
        offset += chunk;
        data = data.subspan(chunk);
    }
    return {};
}

Result<void> Qcow2Image::discard_cluster(std::uint64_t guest_cluster) {
    DOMUS_TRY(mapping, lookup(guest_cluster));
    switch (mapping.kind) {
        case Kind::unallocated:
            if (!backing_) return {};  // already reads as zeros
            break;
        case Kind::zero:
            if (mapping.host_offset == 0) return {};
            break;
        case Kind::compressed:
            return make_error("qcow2: compressed clusters not supported");
        case Kind::normal:
            if (!mapping.copied)
                return make_error("qcow2: shared cluster (internal snapshot) cannot be discarded");
            break;
    }
    DOMUS_TRY_VOID(tables_->set_entry(guest_cluster, kOflagZero));
    // The old cluster keeps its refcount until the zero entry is durable.
    if (mapping.host_offset != 0 && mapping.copied)
        refcounts_->release_after_flush(mapping.host_offset);
    return {};
}

Result<void> Qcow2Image::discard(std::uint64_t offset, std::uint64_t length) {
    if (read_only_) return make_error("{}: image is read-only", path_);
    DOMUS_TRY_VOID(check_request(*this, offset, length));
    const std::uint64_t cluster_size = file_.cluster_size();
    std::vector<std::byte> zeros;
    while (length > 0) {
        std::uint64_t in_cluster = offset & (cluster_size - 1);
        std::uint64_t chunk = std::min(length, cluster_size - in_cluster);
        // The last cluster may extend past the disk end: covering the rest is whole.
        bool whole = in_cluster == 0 && (chunk == cluster_size || offset + chunk == header_.size);
        if (whole) {
            DOMUS_TRY_VOID(discard_cluster(offset >> header_.cluster_bits));
        } else {
            DOMUS_TRY(mapping, lookup(offset >> header_.cluster_bits));
            bool reads_zero =
                mapping.kind == Kind::zero || (mapping.kind == Kind::unallocated && !backing_);
            if (!reads_zero) {
                zeros.resize(static_cast<std::size_t>(chunk));
                std::fill(zeros.begin(), zeros.end(), std::byte{0});
                DOMUS_TRY_VOID(write_chunk(offset, zeros));
            }
        }
        offset += chunk;
        length -= chunk;
    }
    return {};
}

Result<void> Qcow2Image::metadata_barrier() {
    if (refcounts_->dirty()) DOMUS_TRY_VOID(refcounts_->write_dirty());
    return sync_data(fd_.get());
}

Result<void> Qcow2Image::flush() {
    if (read_only_) return {};
    DOMUS_TRY_VOID(metadata_barrier());
    if (tables_->l2_dirty()) {
        DOMUS_TRY_VOID(tables_->write_dirty_l2());
        DOMUS_TRY_VOID(sync_data(fd_.get()));
    }
    if (tables_->l1_dirty()) {
        DOMUS_TRY_VOID(tables_->write_dirty_l1());
        DOMUS_TRY_VOID(sync_data(fd_.get()));
    }
    if (refcounts_->has_pending_releases()) {
        DOMUS_TRY_VOID(refcounts_->apply_releases());
        DOMUS_TRY_VOID(refcounts_->write_dirty());
        DOMUS_TRY_VOID(sync_data(fd_.get()));
    }
    return {};
}

}  // namespace domus::storage
