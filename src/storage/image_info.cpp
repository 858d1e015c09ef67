// image_info(): header-only inspection of raw and qcow2 images.
#include "storage/image_info.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <vector>

#include "base/fd.hpp"
#include "storage/file_io.hpp"
#include "storage/qcow2_format.hpp"

namespace domus::storage {

std::string human_size(std::uint64_t bytes) {
    static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 6) {
        value /= 1024;
        ++unit;
    }
    if (unit == 0) return fmt::format("{} B", bytes);
    return fmt::format("{:.3g} {}", value, kUnits[unit]);
}

Result<ImageInfo> image_info(const std::string& path) {
    DOMUS_TRY(format, probe_format(path));
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return errno_error("open " + path);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return errno_error("fstat " + path);
    ImageInfo info;
    info.path = path;
    info.format = format;
    info.allocated_bytes = static_cast<std::uint64_t>(st.st_blocks) * 512;
    if (format == Format::raw) {
        DOMUS_TRY(raw, inspect_image(path, Format::raw));  // works on an image in use
        info.virtual_size = raw->size_bytes();
        return info;
    }
    auto size = static_cast<std::uint64_t>(st.st_size);
    std::vector<std::byte> cluster0(std::min<std::uint64_t>(size, 1ull << kMaxClusterBits));
    DOMUS_TRY_VOID(read_exact(fd.get(), cluster0, 0));
    auto header = parse_header(cluster0, size);
    if (!header) return make_error("{}: {}", path, header.error().message);
    info.virtual_size = header->size;
    info.cluster_size = header->cluster_size();
    info.backing_file = header->backing_file;
    info.backing_format = header->backing_format;
    info.qcow2_version = header->version;
    info.refcount_bits = 1u << header->refcount_order;
    info.corrupt = (header->incompatible_features & kIncompatCorrupt) != 0;
    info.dirty = (header->incompatible_features & kIncompatDirty) != 0;
    return info;
}

std::string render_info(const ImageInfo& info) {
    std::string out =
        fmt::format("image: {}\nfile format: {}\n", info.path, format_name(info.format));
    out += fmt::format("virtual size: {} ({} bytes)\n", human_size(info.virtual_size),
                       info.virtual_size);
    out += fmt::format("disk size: {}\n", human_size(info.allocated_bytes));
    if (info.format != Format::qcow2) return out;
    out += fmt::format("cluster_size: {}\n", info.cluster_size);
    if (!info.backing_file.empty()) {
        out += fmt::format("backing file: {}\n", info.backing_file);
        if (!info.backing_format.empty())
            out += fmt::format("backing file format: {}\n", info.backing_format);
    }
    out += "Format specific information:\n";
    out += fmt::format("    compat: {}\n", info.qcow2_version == 2 ? "0.10" : "1.1");
    out += fmt::format("    refcount bits: {}\n", info.refcount_bits);
    out += fmt::format("    corrupt: {}\n", info.corrupt ? "true" : "false");
    if (info.dirty) out += "    dirty: true (lazy refcounts in use)\n";
    return out;
}

}  // namespace domus::storage
