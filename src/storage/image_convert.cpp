// convert_image(): reads the source in large chunks, writes only the granules that are
// not all zeros, and removes a half-written target on any failure.
#include "storage/image_convert.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "base/checked.hpp"
#include "base/fd.hpp"
#include "storage/file_io.hpp"
#include "storage/image_info.hpp"
#include "storage/qcow2_backing.hpp"

namespace domus::storage {
namespace {

// Read and written at a time: large enough that the per-call cost vanishes, small enough
// to stay in cache. A multiple of every qcow2 cluster size.
constexpr std::uint64_t kChunk = 2u << 20;
// Zero detection on a raw target: a page, as qemu-img's default -S 4k.
constexpr std::uint64_t kRawGranule = 4096;

bool all_zero(std::span<const std::byte> bytes) {
    if (bytes.empty()) return true;
    return bytes[0] == std::byte{0} &&
           std::memcmp(bytes.data(), bytes.data() + 1, bytes.size() - 1) == 0;
}

using FileId = std::pair<dev_t, ino_t>;

std::optional<FileId> file_id(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    return FileId{st.st_dev, st.st_ino};
}

// The files of the source's backing chain (the source first), from their headers: the
// target must be none of them.
std::vector<FileId> chain_files(const std::string& source) {
    std::vector<FileId> files;
    std::string path = source;
    for (int depth = 0; depth <= kMaxBackingDepth; ++depth) {
        auto id = file_id(path);
        if (!id) break;
        files.push_back(*id);
        auto info = image_info(path);
        if (!info || info->backing_file.empty()) break;
        path = resolve_backing_path(path, info->backing_file);
    }
    return files;
}

// Removes the target on destruction unless the conversion got through.
class TargetCleanup {
public:
    explicit TargetCleanup(std::string path) : path_(std::move(path)) {}
    ~TargetCleanup() {
        if (armed_) ::unlink(path_.c_str());
    }
    TargetCleanup(const TargetCleanup&) = delete;
    TargetCleanup& operator=(const TargetCleanup&) = delete;
    void arm() { armed_ = true; }
    void disarm() { armed_ = false; }

private:
    std::string path_;
    bool armed_ = false;
};

Error annotate(const std::string& path, const std::string& what, const Error& error) {
    // Errors from the image code often name the file already; do not say it twice.
    if (error.message.find(path) != std::string::npos)
        return Error{fmt::format("{}: {}", what, error.message), error.code};
    return Error{fmt::format("{}: {}: {}", path, what, error.message), error.code};
}

// The directory entry of a new file is durable only once its directory is synced.
Result<void> sync_parent(const std::string& path) {
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return errno_error("open " + dir);
    if (::fsync(fd.get()) != 0) return errno_error("fsync " + dir);
    return {};
}

// The first byte at or after `offset` that may hold data in a raw file (SEEK_DATA):
// holes need not be read at all. Where the file system cannot tell, `offset` itself.
std::uint64_t next_data(int fd, std::uint64_t offset, std::uint64_t end) {
    off_t at = ::lseek(fd, static_cast<off_t>(offset), SEEK_DATA);
    if (at >= 0) return std::min<std::uint64_t>(static_cast<std::uint64_t>(at), end);
    return errno == ENXIO ? end : offset;
}

class Converter {
public:
    Converter(BlockImage& source, const std::string& source_path, BlockImage& target,
              const std::string& target_path, std::uint64_t granule)
        : source_(source),
          source_path_(source_path),
          target_(target),
          target_path_(target_path),
          granule_(granule),
          buffer_(kChunk) {}

    Result<void> run(std::uint64_t total, const ConvertProgressFn& progress) {
        if (progress) progress({0, total});
        std::uint64_t offset = 0;
        while (offset < total) {
            std::uint64_t length = std::min(kChunk, total - offset);
            if (source_.direct_fd() >= 0) {
                // Whole chunks of a sparse raw source are skipped unread.
                std::uint64_t data = next_data(source_.direct_fd(), offset, total);
                if (data >= offset + length) {
                    // Offsets stay chunk-aligned: on to the chunk holding the data.
                    offset = data >= total ? total : data & ~(kChunk - 1);
                    if (progress) progress({offset, total});
                    continue;
                }
            }
            std::span<std::byte> chunk(buffer_.data(), static_cast<std::size_t>(length));
            DOMUS_TRY_VOID(read_chunk(offset, chunk));
            DOMUS_TRY_VOID(write_nonzero(offset, chunk));
            offset += length;
            if (progress) progress({offset, total});
        }
        return {};
    }

private:
    // The source's last sector may be partial (a raw file of any length): the bytes past
    // the last whole sector come straight from the file, and read as zeros beyond its end.
    Result<void> read_chunk(std::uint64_t offset, std::span<std::byte> chunk) {
        std::uint64_t whole = source_.size_bytes() & ~(kSectorSize - 1);
        std::uint64_t aligned =
            offset < whole ? std::min<std::uint64_t>(chunk.size(), whole - offset) : 0;
        if (aligned > 0) {
            if (auto read = source_.read(offset, chunk.first(aligned)); !read)
                return annotate(source_path_, fmt::format("read at offset {}", offset),
                                read.error());
        }
        auto tail = chunk.subspan(aligned);
        if (tail.empty()) return {};
        std::fill(tail.begin(), tail.end(), std::byte{0});
        if (source_.direct_fd() < 0)
            return make_error("{}: size {} is not a multiple of {} bytes", source_path_,
                              source_.size_bytes(), kSectorSize);
        if (auto read = read_some(source_.direct_fd(), tail, offset + aligned); !read)
            return annotate(source_path_, "read", read.error());
        return {};
    }

    // Runs of granules that are not all zeros, each written with one call.
    Result<void> write_nonzero(std::uint64_t offset, std::span<const std::byte> chunk) {
        std::size_t at = 0;
        while (at < chunk.size()) {
            std::size_t start = at;
            while (start < chunk.size() && all_zero(granule(chunk, start)))
                start += granule(chunk, start).size();
            std::size_t end = start;
            while (end < chunk.size() && !all_zero(granule(chunk, end)))
                end += granule(chunk, end).size();
            if (end > start) {
                if (auto written = target_.write(offset + start, chunk.subspan(start, end - start));
                    !written)
                    return annotate(target_path_, fmt::format("write at offset {}", offset + start),
                                    written.error());
            }
            at = end;
        }
        return {};
    }

    std::span<const std::byte> granule(std::span<const std::byte> chunk, std::size_t at) const {
        return chunk.subspan(at, std::min<std::size_t>(granule_, chunk.size() - at));
    }

    BlockImage& source_;
    const std::string& source_path_;
    BlockImage& target_;
    const std::string& target_path_;
    std::uint64_t granule_;
    std::vector<std::byte> buffer_;
};

}  // namespace

Result<Format> parse_format(const std::string& name) {
    if (name == "raw") return Format::raw;
    if (name == "qcow2") return Format::qcow2;
    return make_error("unknown image format '{}' (raw or qcow2)", name);
}

Result<void> convert_image(const std::string& source, const std::string& target,
                           const ConvertOptions& options, const ConvertProgressFn& progress) {
    if (options.target_format == Format::autodetect)
        return make_error("{}: the target format must be raw or qcow2", target);
    auto opened = options.share_source ? inspect_image(source, options.source_format)
                                       : open_image(source, options.source_format, true);
    if (!opened) return annotate(source, "cannot open the source", opened.error());
    std::unique_ptr<BlockImage> input = std::move(*opened);
    const std::uint64_t size = input->size_bytes();

    // The target is never the source or one of its backing files: it would be wiped
    // before it was read (our own locks do not keep one process from itself).
    struct stat existing {};
    if (::stat(target.c_str(), &existing) == 0) {
        FileId id{existing.st_dev, existing.st_ino};
        auto chain = chain_files(source);
        if (std::find(chain.begin(), chain.end(), id) != chain.end())
            return make_error("{}: the target is the source image or one of its backing files",
                              target);
        if (!options.overwrite)
            return make_error("{}: the target already exists (--force replaces it)", target);
        // Block devices and the like are not images this makes (and never to remove).
        if (!S_ISREG(existing.st_mode))
            return make_error("{}: the target exists and is not a regular file", target);
    }

    TargetCleanup cleanup(target);
    if (!file_id(target)) {
        // Claimed with O_EXCL: a file that appeared meanwhile is not ours to replace.
        Fd claim(::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
        if (!claim) {
            if (errno == EEXIST)
                return make_error("{}: the target already exists (--force replaces it)", target);
            return errno_error("create " + target);
        }
        cleanup.arm();
    }
    // An existing target is truncated only once create_image holds its lock, so one a
    // domain has open is refused untouched; from then on it is ours to remove.
    if (auto created =
            create_image(target, size, options.target_format, std::nullopt, options.cluster_size);
        !created)
        return annotate(target, "cannot create the target", created.error());
    cleanup.arm();

    {
        auto output = open_image(target, options.target_format, false);
        if (!output) return annotate(target, "cannot open the target", output.error());
        std::uint64_t granule = kRawGranule;
        if (options.target_format == Format::qcow2)
            granule = std::max(options.cluster_size, kRawGranule);
        Converter converter(*input, source, **output, target, granule);
        DOMUS_TRY_VOID(converter.run(align_up(size, kSectorSize), progress));
        if (auto flushed = (*output)->flush(); !flushed)
            return annotate(target, "flush", flushed.error());
    }
    if (auto synced = sync_parent(target); !synced)
        return annotate(target, "sync directory", synced.error());
    cleanup.disarm();
    return {};
}

}  // namespace domus::storage
