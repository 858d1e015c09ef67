// The disk stream's two ends (see disk_copy.hpp): chains found through the images'
// headers, data sent extent by extent (SEEK_DATA), copies made with O_EXCL.
#include "toolstack/disk_copy.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "base/fd.hpp"
#include "config/disk_spec.hpp"
#include "storage/file_io.hpp"
#include "storage/image_info.hpp"
#include "storage/qcow2_backing.hpp"
#include "storage/qcow2_format.hpp"

namespace domus::toolstack {
namespace {

using migration::DiskFile;

std::string absolute(const std::string& path) {
    return std::filesystem::absolute(path).lexically_normal().string();
}

std::string base_name(const std::string& path) {
    return std::filesystem::path(path).filename().string();
}

// Adds `path` with the chain below it (each file once); returns its id.
Result<std::uint32_t> add_chain(const std::string& given, const std::string& format,
                                std::vector<DiskFile>& files, int depth) {
    std::string path = absolute(given);
    for (const auto& file : files)
        if (file.path == path) return file.id;  // a backing file two images share
    if (depth > storage::kMaxBackingDepth)
        return make_error("{}: the backing chain is deeper than {}", path,
                          storage::kMaxBackingDepth);
    std::uint32_t backing = migration::kNoBacking;
    if (format == "qcow2") {
        DOMUS_TRY(info, storage::image_info(path));
        if (!info.backing_file.empty()) {
            std::string below = storage::resolve_backing_path(path, info.backing_file);
            std::string below_format = info.backing_format;
            if (below_format.empty()) {
                DOMUS_TRY(probed, storage::image_info(below));
                below_format = storage::format_name(probed.format);
            }
            DOMUS_TRY(id, add_chain(below, below_format, files, depth + 1));
            backing = id;
        }
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) < 0) return errno_error("stat " + path);
    if (!S_ISREG(st.st_mode))
        return make_error("{}: only image files can be copied (not a device)", path);
    if (files.size() >= migration::kMaxDiskFiles)
        return make_error("more than {} disk files", migration::kMaxDiskFiles);
    files.push_back(
        DiskFile{std::uint32_t(files.size()), std::uint64_t(st.st_size), path, format, backing});
    return files.back().id;
}

Result<void> read_exact(int fd, std::span<std::uint8_t> buffer, std::uint64_t offset,
                        const std::string& path) {
    for (std::size_t done = 0; done < buffer.size();) {
        ssize_t n = ::pread(fd, buffer.data() + done, buffer.size() - done, off_t(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno_error("read " + path);
        if (n == 0) return make_error("{} became shorter while it was copied", path);
        done += std::size_t(n);
    }
    return {};
}

// The copy of an image names its backing file's copy: `name`, relative (side by side).
Result<void> rename_backing(int fd, const std::string& path, std::uint64_t size,
                            const std::string& name) {
    std::vector<std::byte> cluster0(std::min<std::uint64_t>(size, 2u << 20));
    DOMUS_TRY_VOID(read_exact(
        fd, {reinterpret_cast<std::uint8_t*>(cluster0.data()), cluster0.size()}, 0, path));
    DOMUS_TRY(header, storage::parse_header(cluster0, size));
    header.backing_file = name;
    DOMUS_TRY(encoded, storage::encode_header(header));
    // As Qcow2Image::set_backing: only the bytes up to the end of the name change meaning.
    std::size_t used =
        std::size_t(storage::load_be64(&encoded[8]) + storage::load_be32(&encoded[16]));
    std::size_t bytes = std::min(encoded.size(), (used + 511) & ~std::size_t(511));
    return storage::write_all(fd, std::span(encoded).first(bytes), 0);
}

}  // namespace

Result<std::vector<DiskFile>> disk_chain_files(const std::vector<std::string>& disks) {
    std::vector<DiskFile> files;
    for (const auto& text : disks) {
        DOMUS_TRY(spec, config::parse_disk_spec(text));
        if (spec.target.empty()) continue;  // an empty CD-ROM drive
        DOMUS_TRY(id, add_chain(spec.target, spec.format, files, 0));
        (void)id;
    }
    return files;
}

Result<std::uint64_t> send_disks(int fd, const std::vector<DiskFile>& files,
                                 const std::function<void(std::uint64_t)>& on_bytes) {
    migration::FdSink sink(fd);
    migration::StreamWriter writer(sink);
    DOMUS_TRY_VOID(writer.header(migration::kFlagDisks));
    std::vector<std::uint8_t> buffer(migration::kMaxDiskData), head;
    for (const auto& file : files) {
        DOMUS_TRY_VOID(writer.record(migration::RecordType::disk_file, migration::encode(file)));
        Fd in(::open(file.path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!in) return errno_error("open " + file.path);
        auto size = off_t(file.size);
        for (off_t at = 0; at < size;) {
            off_t data = ::lseek(in.get(), at, SEEK_DATA);
            if (data < 0 || data >= size) break;  // ENXIO: no data past `at`
            off_t hole = ::lseek(in.get(), data, SEEK_HOLE);
            if (hole < 0 || hole > size) hole = size;
            for (off_t piece = data; piece < hole;) {
                auto n = std::size_t(std::min<off_t>(hole - piece, off_t(buffer.size())));
                std::span<std::uint8_t> bytes(buffer.data(), n);
                DOMUS_TRY_VOID(read_exact(in.get(), bytes, std::uint64_t(piece), file.path));
                auto pieces =
                    migration::disk_data_pieces(head, file.id, std::uint64_t(piece), bytes);
                DOMUS_TRY_VOID(
                    writer.record(std::uint32_t(migration::RecordType::disk_data), pieces));
                if (on_bytes) on_bytes(writer.bytes());
                piece += off_t(n);
            }
            at = hole;
        }
    }
    DOMUS_TRY_VOID(writer.end());
    return writer.bytes();
}

Result<DiskMoves> receive_disks(int fd, const std::string& dir) {
    migration::FdSource source(fd);
    migration::StreamReader reader(source);
    std::vector<DiskFile> files;
    std::vector<std::string> targets;  // made by us: removed again on failure
    std::vector<Fd> outputs;
    auto failed = [&](Error error) -> Result<DiskMoves> {
        outputs.clear();
        for (const auto& target : targets)
            ::unlink(target.c_str());
        return error;
    };
    auto header = reader.header();
    if (!header) return failed(std::move(header).error());
    if (!(header->flags & migration::kFlagDisks))
        return failed(make_error("the stream does not start with the disks (--copy-disks)"));
    for (bool end = false; !end;) {
        auto record = reader.next();
        if (!record) return failed(std::move(record).error());
        switch (migration::RecordType(record->type & ~migration::kOptionalRecord)) {
            case migration::RecordType::end:
                end = true;
                break;
            case migration::RecordType::disk_file: {
                auto file = migration::decode_disk_file(record->body, std::uint32_t(files.size()));
                if (!file) return failed(std::move(file).error());
                std::string target = dir.empty() ? file->path : dir + "/" + base_name(file->path);
                if (std::find(targets.begin(), targets.end(), target) != targets.end())
                    return failed(make_error("two disk files would be copied to {}", target));
                Fd out(::open(target.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
                if (!out && errno == EEXIST)
                    return failed(make_error(
                        "{} exists on the destination: --copy-disks does not overwrite it",
                        target));
                if (!out) return failed(errno_error("create " + target));
                targets.push_back(target);
                if (::ftruncate(out.get(), off_t(file->size)) < 0)
                    return failed(errno_error("truncate " + target));
                outputs.push_back(std::move(out));
                files.push_back(std::move(file).value());
                break;
            }
            case migration::RecordType::disk_data: {
                auto data = migration::decode_disk_data(record->body, files);
                if (!data) return failed(std::move(data).error());
                auto written = storage::write_all(
                    outputs[data->id].get(),
                    {reinterpret_cast<const std::byte*>(data->data.data()), data->data.size()},
                    data->offset);
                if (!written) return failed(std::move(written).error());
                break;
            }
            default:
                return failed(make_error("a {} record in the disk stream",
                                         migration::record_type_name(record->type)));
        }
    }
    DiskMoves moves;
    for (const auto& file : files) {
        const std::string& target = targets[file.id];
        if (file.backing != migration::kNoBacking && target != file.path) {
            auto renamed = rename_backing(outputs[file.id].get(), target, file.size,
                                          base_name(targets[file.backing]));
            if (!renamed) return failed(std::move(renamed).error());
        }
        if (auto synced = storage::sync_data(outputs[file.id].get()); !synced)
            return failed(std::move(synced).error());
        moves[file.path] = target;
    }
    return moves;
}

Result<std::vector<std::string>> moved_disk_specs(const std::vector<std::string>& disks,
                                                  const DiskMoves& moves) {
    std::vector<std::string> out;
    for (const auto& text : disks) {
        DOMUS_TRY(spec, config::parse_disk_spec(text));
        if (spec.target.empty()) {
            out.push_back(text);
            continue;
        }
        auto moved = moves.find(absolute(spec.target));
        if (moved == moves.end()) {
            out.push_back(text);
            continue;
        }
        spec.target = moved->second;
        out.push_back(config::to_disk_spec(spec));
    }
    return out;
}

}  // namespace domus::toolstack
