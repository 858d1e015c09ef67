// Backing-file name resolution and chain opening with depth and loop checks.
#include "storage/qcow2_backing.hpp"

#include "base/host_files.hpp"

#include "storage/qcow2_image.hpp"
#include "storage/raw_image.hpp"

namespace domus::storage {

std::string resolve_backing_path(const std::string& image_path, const std::string& name) {
    if (name.empty() || name[0] == '/') return name;
    auto slash = image_path.rfind('/');
    if (slash == std::string::npos) return name;
    return image_path.substr(0, slash + 1) + name;
}

Result<Format> backing_format_from_name(const std::string& name) {
    if (name.empty()) return Format::autodetect;
    if (name == "qcow2") return Format::qcow2;
    if (name == "raw" || name == "file") return Format::raw;
    return make_error("qcow2: backing format '{}' is not supported", name);
}

Result<std::unique_ptr<BlockImage>> open_image_chain(const std::string& path, Format format,
                                                     bool read_only, BackingContext context) {
    if (context.depth > kMaxBackingDepth)
        return make_error("backing chain deeper than {} images at {}", kMaxBackingDepth, path);
    DOMUS_TRY(resolved, HostFiles::process().real_path(path));
    for (const auto& above : context.real_paths)
        if (above == resolved) return make_error("backing chain loop: {} is its own backing", path);
    context.real_paths.push_back(std::move(resolved));

    if (format == Format::autodetect) {
        DOMUS_TRY(probed, probe_format(path));
        format = probed;
    }
    if (format == Format::raw) {
        DOMUS_TRY(raw, RawImage::open(path, RawOptions{read_only, false, context.lock}));
        return std::unique_ptr<BlockImage>(std::move(raw));
    }
    DOMUS_TRY(qcow2, Qcow2Image::open(
                         path, Qcow2Options{read_only, Qcow2Options{}.l2_cache_bytes, context.lock},
                         std::move(context)));
    return std::unique_ptr<BlockImage>(std::move(qcow2));
}

}  // namespace domus::storage
