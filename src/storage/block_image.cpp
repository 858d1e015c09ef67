// open_image(): format probing and dispatch to the raw and qcow2 implementations; the
// bounce-buffer defaults of the vectored calls.
#include "storage/block_image.hpp"

#include <fcntl.h>

#include <array>
#include <vector>

#include "base/checked.hpp"
#include "base/fd.hpp"
#include "base/host_files.hpp"
#include "storage/file_io.hpp"
#include "storage/io_vector.hpp"
#include "storage/qcow2_backing.hpp"
#include "storage/qcow2_format.hpp"
#include "storage/qcow2_image.hpp"
#include "storage/raw_image.hpp"

namespace domus::storage {

const char* format_name(Format format) {
    switch (format) {
        case Format::raw:
            return "raw";
        case Format::qcow2:
            return "qcow2";
        case Format::autodetect:
            return "autodetect";
    }
    return "?";
}

Result<void> BlockImage::readv(std::uint64_t offset, std::span<const iovec> pieces) {
    std::vector<std::byte> bounce(io_bytes(pieces));
    DOMUS_TRY_VOID(read(offset, bounce));
    io_scatter(bounce.data(), pieces);
    return {};
}

Result<void> BlockImage::writev(std::uint64_t offset, std::span<const iovec> pieces) {
    std::vector<std::byte> bounce(io_bytes(pieces));
    io_gather(pieces, bounce.data());
    return write(offset, bounce);
}

Result<bool> BlockImage::host_extents(std::uint64_t offset, std::uint64_t length, bool write,
                                      std::vector<HostExtent>& extents) {
    // A file that is the disk byte for byte is one extent; an uncached one wants aligned
    // buffers, which only its own code guarantees.
    if (direct_fd() < 0 || direct_uncached() || (write && read_only())) return false;
    DOMUS_TRY_VOID(check_request(*this, offset, length));
    append_host_extent(extents, {direct_fd(), offset, length});
    return true;
}

void append_host_extent(std::vector<HostExtent>& extents, HostExtent next) {
    if (next.length == 0) return;
    if (!extents.empty()) {
        HostExtent& last = extents.back();
        bool joins =
            last.fd == next.fd && (next.fd < 0 || last.offset + last.length == next.offset);
        if (joins) {
            last.length += next.length;
            return;
        }
    }
    extents.push_back(next);
}

Result<void> check_request(const BlockImage& image, std::uint64_t offset, std::uint64_t length) {
    if (offset % kSectorSize != 0 || length % kSectorSize != 0)
        return make_error("request {:#x}+{:#x} is not {}-byte aligned", offset, length,
                          kSectorSize);
    if (!range_within(offset, length, image.size_bytes()))
        return make_error("request {:#x}+{:#x} is beyond the disk end {:#x}", offset, length,
                          image.size_bytes());
    return {};
}

Result<Format> probe_format(const std::string& path) {
    DOMUS_TRY(fd, HostFiles::process().open(path, O_RDONLY));
    std::array<std::byte, 4> magic{};
    DOMUS_TRY(got, read_some(fd.get(), magic, 0));
    if (got == magic.size() && load_be32(magic.data()) == kQcow2Magic) return Format::qcow2;
    return Format::raw;
}

Result<std::unique_ptr<BlockImage>> open_image(const std::string& path, Format format,
                                               bool read_only, bool direct) {
    if (!direct) return open_image_chain(path, format, read_only, BackingContext{});
    if (format == Format::autodetect) {
        DOMUS_TRY(probed, probe_format(path));
        format = probed;
    }
    if (format != Format::raw)
        return make_error("{}: direct I/O (O_DIRECT) is supported for raw images only", path);
    DOMUS_TRY(raw, RawImage::open(path, RawOptions{read_only, true}));
    return std::unique_ptr<BlockImage>(std::move(raw));
}

Result<std::unique_ptr<BlockImage>> inspect_image(const std::string& path, Format format) {
    BackingContext context;
    context.lock = false;
    return open_image_chain(path, format, true, std::move(context));
}

Result<std::vector<std::string>> chain_paths(const std::string& path, Format format) {
    DOMUS_TRY(image, inspect_image(path, format));
    std::vector<std::string> paths{path};
    for (auto* at = dynamic_cast<Qcow2Image*>(image.get());
         at && !at->header().backing_file.empty(); at = dynamic_cast<Qcow2Image*>(at->backing()))
        paths.push_back(resolve_backing_path(at->path(), at->header().backing_file));
    return paths;
}

}  // namespace domus::storage
