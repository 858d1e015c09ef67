// image_merge: copying the clusters a qcow2 image lacks from its backing file, in place
// (stream_and_rebase) or into a merged copy renamed over the image.
#include "storage/image_merge.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <vector>

#include "base/fd.hpp"
#include "storage/image_create.hpp"

namespace domus::storage {
namespace {

Qcow2Image* as_qcow2(BlockImage* image) {
    return dynamic_cast<Qcow2Image*>(image);
}

Result<void> sync_directory_of(const std::string& path) {
    std::string dir = std::filesystem::path(path).parent_path().string();
    Fd fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return errno_error("open " + dir);
    if (::fsync(fd.get()) != 0) return errno_error("fsync " + dir);
    return {};
}

}  // namespace

std::uint64_t cluster_count(const Qcow2Image& image) {
    std::uint64_t size = image.header().cluster_size();
    return (image.size_bytes() + size - 1) / size;
}

Result<std::uint64_t> copy_missing_clusters(Qcow2Image& from, Qcow2Image& into, std::uint64_t first,
                                            std::uint64_t count) {
    const std::uint64_t cluster_size = into.header().cluster_size();
    if (from.header().cluster_size() != cluster_size)
        return make_error("{} and {} have different cluster sizes", from.path(), into.path());
    const std::uint64_t size = std::min(from.size_bytes(), into.size_bytes());
    std::vector<std::byte> buffer(cluster_size);
    std::uint64_t copied = 0;
    for (std::uint64_t cluster = first; cluster < first + count; ++cluster) {
        std::uint64_t offset = cluster * cluster_size;
        if (offset >= size) break;
        std::uint64_t length = std::min(cluster_size, size - offset);
        DOMUS_TRY(source, from.cluster_state(cluster));
        if (source == Qcow2Image::ClusterState::unallocated) continue;
        DOMUS_TRY(target, into.cluster_state(cluster));
        if (target != Qcow2Image::ClusterState::unallocated) continue;
        if (source == Qcow2Image::ClusterState::zero) {
            // A zero cluster over a backing file: the one way to say "zeros, not below".
            DOMUS_TRY_VOID(into.discard(offset, length));
            continue;
        }
        auto data = std::span(buffer).first(length);
        DOMUS_TRY_VOID(from.read(offset, data));
        DOMUS_TRY_VOID(into.write(offset, data));
        copied += length;
    }
    return copied;
}

Result<std::uint64_t> stream_and_rebase(Qcow2Image& image, const std::string& new_backing,
                                        Format new_format) {
    Qcow2Image* removed = as_qcow2(image.backing());
    if (!removed) return make_error("{}: its backing file is not a qcow2 image", image.path());
    DOMUS_TRY(copied, copy_missing_clusters(*removed, image, 0, cluster_count(image)));
    DOMUS_TRY_VOID(image.set_backing(new_backing, new_format));  // flushes first
    return copied;
}

Result<MergedCopy> replace_with_merged_copy(const std::string& child,
                                            const std::string& new_backing, Format new_format) {
    const std::string merged_path = child + ".merge";
    std::filesystem::remove(merged_path);  // a crashed attempt's
    DOMUS_TRY(source, Qcow2Image::open(child, Qcow2Options{.read_only = true}));
    Qcow2Image* removed = as_qcow2(source->backing());
    if (!removed) return make_error("{}: its backing file is not a qcow2 image", child);
    auto written = [&]() -> Result<MergedCopy> {
        DOMUS_TRY_VOID(create_image(merged_path, source->size_bytes(), Format::qcow2, new_backing,
                                    source->header().cluster_size(), new_format));
        DOMUS_TRY(merged, Qcow2Image::open(merged_path, Qcow2Options{}));
        std::uint64_t clusters = cluster_count(*source);
        DOMUS_TRY(own, copy_missing_clusters(*source, *merged, 0, clusters));
        DOMUS_TRY(below, copy_missing_clusters(*removed, *merged, 0, clusters));
        DOMUS_TRY_VOID(merged->flush());
        return MergedCopy{below, own + below};
    }();
    if (!written) {
        std::filesystem::remove(merged_path);
        return written;
    }
    // The merged image is durable (flush) before its name replaces the child's.
    if (::rename(merged_path.c_str(), child.c_str()) != 0) {
        Error error = errno_error("rename " + merged_path);
        std::filesystem::remove(merged_path);
        return error;
    }
    DOMUS_TRY_VOID(sync_directory_of(child));
    return written;
}

}  // namespace domus::storage
