// disk_file and disk_data bodies (see disk_records.hpp): little-endian fields, lengths
// checked against the body and against the files announced before.
#include "migration/disk_records.hpp"

#include <cstring>

namespace domus::migration {
namespace {

void put(std::vector<std::uint8_t>& out, const void* p, std::size_t n) {
    auto b = static_cast<const std::uint8_t*>(p);
    out.insert(out.end(), b, b + n);
}

void put_string(std::vector<std::uint8_t>& out, const std::string& s) {
    auto n = std::uint32_t(s.size());
    put(out, &n, 4);
    put(out, s.data(), s.size());
}

class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> body) : body_(body) {}
    bool take(void* p, std::size_t n) {
        if (n > body_.size() - at_) return false;
        std::memcpy(p, body_.data() + at_, n);
        at_ += n;
        return true;
    }
    bool string(std::string& s, std::size_t limit) {
        std::uint32_t n;
        if (!take(&n, 4) || n > limit || n > body_.size() - at_) return false;
        s.assign(reinterpret_cast<const char*>(body_.data() + at_), n);
        at_ += n;
        return true;
    }
    std::span<const std::uint8_t> rest() const { return body_.subspan(at_); }
    bool done() const { return at_ == body_.size(); }

private:
    std::span<const std::uint8_t> body_;
    std::size_t at_ = 0;
};

}  // namespace

std::vector<std::uint8_t> encode(const DiskFile& file) {
    std::vector<std::uint8_t> out;
    put(out, &file.id, 4);
    put(out, &file.backing, 4);
    put(out, &file.size, 8);
    put_string(out, file.path);
    put_string(out, file.format);
    return out;
}

Result<DiskFile> decode_disk_file(std::span<const std::uint8_t> body, std::uint32_t next_id) {
    DiskFile file;
    Reader r(body);
    if (!r.take(&file.id, 4) || !r.take(&file.backing, 4) || !r.take(&file.size, 8) ||
        !r.string(file.path, 4096) || !r.string(file.format, 16) || !r.done())
        return make_error("a disk_file record is malformed: the stream is corrupt");
    if (file.id != next_id || file.id >= kMaxDiskFiles)
        return make_error("disk_file {} where {} was due", file.id, next_id);
    if (file.backing != kNoBacking && file.backing >= file.id)
        return make_error("disk_file {} reads through file {}, not sent before it", file.id,
                          file.backing);
    if (file.format != "raw" && file.format != "qcow2")
        return make_error("disk_file {}: unknown format \"{}\"", file.id, file.format);
    if (file.format == "raw" && file.backing != kNoBacking)
        return make_error("disk_file {}: a raw file has no backing file", file.id);
    if (file.path.empty() || file.path[0] != '/' || file.path.find('\0') != std::string::npos)
        return make_error("disk_file {}: \"{}\" is not an absolute path", file.id, file.path);
    return file;
}

std::vector<std::span<const std::uint8_t>> disk_data_pieces(std::vector<std::uint8_t>& head,
                                                            std::uint32_t id, std::uint64_t offset,
                                                            std::span<const std::uint8_t> data) {
    head.clear();
    put(head, &id, 4);
    put(head, &offset, 8);
    return {std::span<const std::uint8_t>(head), data};
}

Result<DiskDataView> decode_disk_data(std::span<const std::uint8_t> body,
                                      std::span<const DiskFile> files) {
    DiskDataView view;
    Reader r(body);
    if (!r.take(&view.id, 4) || !r.take(&view.offset, 8))
        return make_error("a disk_data record is cut short: the stream is corrupt");
    view.data = r.rest();
    if (view.id >= files.size()) return make_error("disk_data for file {}, not announced", view.id);
    const DiskFile& file = files[view.id];
    if (view.data.size() > kMaxDiskData || view.offset > file.size ||
        view.data.size() > file.size - view.offset)
        return make_error("disk_data of {} bytes at {} lies outside file {} ({} bytes)",
                          view.data.size(), view.offset, view.id, file.size);
    return view;
}

}  // namespace domus::migration
