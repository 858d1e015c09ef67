// Journal: record framing, replay with torn-tail cut-off, and crash-safe compaction.
#include "store/journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace domus::store {
namespace {

constexpr std::uint32_t kMagic = 0x4a535844;  // "DXSJ"
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kHeaderSize = 16;
constexpr std::size_t kFrameSize = 8;

struct Header {
    std::uint32_t magic = kMagic;
    std::uint32_t version = kVersion;
    std::uint64_t epoch = 0;
};
static_assert(sizeof(Header) == kHeaderSize);

std::string frame(std::string_view payload) {
    std::string out(kFrameSize, '\0');
    auto length = std::uint32_t(payload.size());
    std::uint32_t check = crc32c(payload);
    std::memcpy(out.data(), &length, 4);
    std::memcpy(out.data() + 4, &check, 4);
    out.append(payload);
    return out;
}

Result<std::string> read_all(const std::string& path, bool& exists) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    exists = bool(fd);
    if (!fd) {
        if (errno == ENOENT) return std::string();
        return errno_error("open " + path);
    }
    std::string text;
    char buffer[65536];
    ssize_t n;
    while ((n = ::read(fd.get(), buffer, sizeof(buffer))) > 0)
        text.append(buffer, std::size_t(n));
    if (n < 0) return errno_error("read " + path);
    return text;
}

bool parse_header(std::string_view text, Header& header) {
    if (text.size() < kHeaderSize) return false;
    std::memcpy(&header, text.data(), kHeaderSize);
    return header.magic == kMagic && header.version == kVersion;
}

// The whole records of `text` after the header; `good` is where the last one ends.
template <class Each>
Result<void> for_each_record(std::string_view text, std::size_t& good, Each each) {
    good = kHeaderSize;
    while (text.size() - good >= kFrameSize) {
        std::uint32_t length, check;
        std::memcpy(&length, text.data() + good, 4);
        std::memcpy(&check, text.data() + good + 4, 4);
        if (length > text.size() - good - kFrameSize) break;  // torn
        std::string_view payload = text.substr(good + kFrameSize, length);
        if (crc32c(payload) != check) break;  // torn (or never finished)
        DOMUS_TRY_VOID(each(payload));
        good += kFrameSize + length;
    }
    return {};
}

Result<void> write_all(int fd, std::string_view bytes, const char* what) {
    while (!bytes.empty()) {
        ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return errno_error(what);
        bytes.remove_prefix(std::size_t(n));
    }
    return {};
}

}  // namespace

namespace {

std::uint32_t crc32c_table(std::uint32_t c, const unsigned char* data, std::size_t size) noexcept {
    static const auto table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k)
                c = (c & 1) ? 0x82F63B78u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    for (std::size_t i = 0; i < size; ++i)
        c = table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
    return c;
}

#if defined(__x86_64__)
// SSE 4.2's crc32 instruction: the check costs next to nothing beside the write().
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse(std::uint32_t c,
                                                           const unsigned char* data,
                                                           std::size_t size) noexcept {
    std::uint64_t wide = c;
    for (; size >= 8; data += 8, size -= 8) {
        std::uint64_t word;
        std::memcpy(&word, data, 8);
        wide = __builtin_ia32_crc32di(wide, word);
    }
    c = std::uint32_t(wide);
    for (; size > 0; ++data, --size)
        c = __builtin_ia32_crc32qi(c, *data);
    return c;
}
#endif

}  // namespace

std::uint32_t crc32c(std::string_view bytes) noexcept {
    auto data = reinterpret_cast<const unsigned char*>(bytes.data());
#if defined(__x86_64__)
    static const bool sse42 = __builtin_cpu_supports("sse4.2");
    if (sse42) return ~crc32c_sse(~0u, data, bytes.size());
#endif
    return ~crc32c_table(~0u, data, bytes.size());
}

Result<Journal> Journal::open(const std::string& dir) {
    ::unlink((dir + "/snapshot.tmp").c_str());
    std::string path = dir + "/journal";
    Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!fd) return errno_error("open " + path);
    return Journal(dir, std::move(fd));
}

Result<void> Journal::replay(const Apply& apply) {
    bool exists = false;
    std::uint64_t covered = 0;  // the last journal epoch the snapshot contains
    DOMUS_TRY(snapshot, read_all(dir_ + "/snapshot", exists));
    Header header;
    if (exists && parse_header(snapshot, header)) {
        covered = header.epoch;
        std::size_t good;
        DOMUS_TRY_VOID(for_each_record(snapshot, good, apply));
    }
    DOMUS_TRY(journal, read_all(dir_ + "/journal", exists));
    if (!parse_header(journal, header) || header.epoch <= covered)
        return start_epoch(covered + 1);  // empty, torn header, or already in the snapshot
    std::size_t good;
    DOMUS_TRY_VOID(for_each_record(journal, good, apply));
    if (good < journal.size() && ::ftruncate(fd_.get(), off_t(good)) != 0)
        return errno_error("truncate journal");
    epoch_ = header.epoch;
    size_ = good;
    return {};
}

Result<void> Journal::start_epoch(std::uint64_t epoch) {
    if (::ftruncate(fd_.get(), 0) != 0) return errno_error("truncate journal");
    Header header;
    header.epoch = epoch;
    DOMUS_TRY_VOID(write_all(
        fd_.get(), std::string_view(reinterpret_cast<const char*>(&header), sizeof(header)),
        "write journal header"));
    epoch_ = epoch;
    size_ = kHeaderSize;
    return {};
}

Result<void> Journal::append(std::string_view payload) {
    std::uint32_t head[2] = {std::uint32_t(payload.size()), crc32c(payload)};
    iovec parts[2] = {{head, sizeof(head)}, {const_cast<char*>(payload.data()), payload.size()}};
    // One writev(): a kill can only leave a prefix of it, which the check rejects.
    ssize_t n;
    do {
        n = ::writev(fd_.get(), parts, 2);
    } while (n < 0 && errno == EINTR);
    std::size_t whole = sizeof(head) + payload.size();
    if (n != ssize_t(whole)) {
        // A short write (disk full): cut it off, so that later records stay readable.
        if (n > 0 && ::ftruncate(fd_.get(), off_t(size_)) != 0)
            return errno_error("truncate journal");
        return n < 0 ? errno_error("append to journal") : make_error("journal: short write");
    }
    size_ += whole;
    return {};
}

Result<void> Journal::compact(std::string_view state) {
    std::string temp = dir_ + "/snapshot.tmp";
    {
        Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!fd) return errno_error("open " + temp);
        Header header;
        header.epoch = epoch_;
        std::string bytes(reinterpret_cast<const char*>(&header), sizeof(header));
        bytes += frame(state);
        DOMUS_TRY_VOID(write_all(fd.get(), bytes, "write snapshot"));
    }
    if (stop_after == Step::SnapshotWritten) return {};
    if (::rename(temp.c_str(), (dir_ + "/snapshot").c_str()) != 0)
        return errno_error("rename snapshot");
    if (stop_after == Step::Renamed) return {};
    if (::ftruncate(fd_.get(), 0) != 0) return errno_error("truncate journal");
    if (stop_after == Step::Truncated) return {};
    return start_epoch(epoch_ + 1);
}

void Journal::remove() {
    ::unlink((dir_ + "/journal").c_str());
    ::unlink((dir_ + "/snapshot").c_str());
    ::unlink((dir_ + "/snapshot.tmp").c_str());
}

}  // namespace domus::store
