// Fuzz harness for the qcow2 driver (storage/qcow2_format, qcow2_tables, qcow2_refcounts,
// qcow2_image, qcow2_backing): any bytes as an image file, opened writable, then reads,
// writes, discards and flushes at offsets inside the disk it claims to be.
//
// Input: u32 image length, the image bytes, then records of u8 operation, u64 offset,
// u16 sectors (and for writes one fill byte).
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_input.hpp"
#include "storage/qcow2_image.hpp"

using namespace domus;
using namespace domus::storage;
using domus::fuzz::FuzzInput;

namespace {

std::string g_dir;  // removed at exit

// The image is a file of its own directory, so a relative backing name stays inside it
// (where base.raw is a 1 MiB backing file, as the seeds name it); stdin is /dev/null, so
// a backing name that reaches it cannot block.
const std::string& image_path() {
    static const std::string path = [] {
        int null = ::open("/dev/null", O_RDONLY);
        if (null >= 0) {
            ::dup2(null, 0);
            ::close(null);
        }
        // tmpfs when there is one: the image's fdatasync calls then cost nothing.
        std::string templ = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        templ += "/domus-qcow2-fuzz-XXXXXX";
        char* dir = ::mkdtemp(templ.data());
        if (!dir) std::abort();
        g_dir = dir;
        std::atexit([] {
            ::unlink((g_dir + "/image.qcow2").c_str());
            ::unlink((g_dir + "/base.raw").c_str());
            ::rmdir(g_dir.c_str());
        });
        int base = ::open((std::string(dir) + "/base.raw").c_str(), O_WRONLY | O_CREAT, 0600);
        if (base < 0 || ::ftruncate(base, 1 << 20) != 0) std::abort();
        ::close(base);
        return std::string(dir) + "/image.qcow2";
    }();
    return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzInput in(data, size);
    auto file = in.bytes(in.u32());
    const std::string& path = image_path();
    {
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        DOMUS_FUZZ_CHECK(fd >= 0);
        DOMUS_FUZZ_CHECK(::write(fd, file.data(), file.size()) == ssize_t(file.size()));
        ::close(fd);
    }
    Qcow2Options options;
    options.lock = false;
    options.l2_cache_bytes = 64u << 10;
    BackingContext context;
    context.lock = false;
    auto image = Qcow2Image::open(path, options, context);
    if (!image) return 0;

    const std::uint64_t disk = (*image)->size_bytes();
    std::vector<std::byte> buffer;
    for (int step = 0; step < 32 && !in.empty() && disk >= kSectorSize; ++step) {
        std::uint8_t op = in.u8() % 5;
        std::uint64_t offset = (in.u64() % (disk / kSectorSize)) * kSectorSize;
        std::uint64_t length =
            std::min<std::uint64_t>((in.u16() % 128 + 1) * kSectorSize, disk - offset);
        length -= length % kSectorSize;
        buffer.assign(length, std::byte(op == 1 ? in.u8() : 0));
        switch (op) {
            case 0:
                (void)(*image)->read(offset, buffer);
                break;
            case 1:
                (void)(*image)->write(offset, buffer);
                break;
            case 2:
                (void)(*image)->discard(offset, length);
                break;
            case 3:
                (void)(*image)->flush();
                break;
            case 4: {
                iovec piece{buffer.data(), buffer.size()};
                (void)(*image)->readv(offset, std::span(&piece, 1));
                break;
            }
        }
    }
    return 0;
}
