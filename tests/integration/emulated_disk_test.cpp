// Boots disk_bench against the emulated ATA disk (`domus run --emulated-disk`): the guest
// writes and verifies a pattern, and the host checks that the image file holds it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <regex>
#include <string>
#include <vector>

#include "domus_fixture.hpp"

namespace domus::test {
namespace {

constexpr std::size_t kSector = 512;

// A sparse, zero-filled raw image in /tmp, removed at the end.
class TempImage {
public:
    explicit TempImage(std::size_t bytes) {
        char name[] = "/tmp/domus_edisk_XXXXXX";
        int fd = ::mkstemp(name);
        EXPECT_GE(fd, 0);
        EXPECT_EQ(::ftruncate(fd, off_t(bytes)), 0);
        ::close(fd);
        path_ = name;
    }
    ~TempImage() { ::unlink(path_.c_str()); }
    const std::string& path() const { return path_; }
    std::vector<std::uint8_t> sector(std::uint64_t index) const {
        std::vector<std::uint8_t> out(kSector);
        int fd = ::open(path_.c_str(), O_RDONLY);
        EXPECT_EQ(::pread(fd, out.data(), kSector, off_t(index * kSector)), ssize_t(kSector));
        ::close(fd);
        return out;
    }

private:
    std::string path_;
};

// disk_bench's pattern (guest/apps/disk_bench.c) for sector s, generation gen.
std::vector<std::uint8_t> expected_sector(std::uint64_t s, unsigned gen) {
    std::vector<std::uint8_t> out(kSector);
    for (unsigned i = 0; i < 8; ++i)
        out[i] = std::uint8_t(s >> (8 * i));
    std::memcpy(out.data() + 8, "EDISKPAT", 8);
    for (unsigned i = 16; i < kSector; ++i)
        out[i] = std::uint8_t(s * 131 + i * 7 + gen * 29);
    return out;
}

std::uint64_t stat_field(const std::string& err, const std::string& key) {
    std::smatch m;
    if (!std::regex_search(err, m, std::regex(key + "=([0-9.]+)"))) return 0;
    return std::stoull(m[1]);
}

using EmulatedDiskTest = DomainTest;

TEST_F(EmulatedDiskTest, VerifyWritesThePatternTheHostSees) {
    TempImage image(8 << 20);
    auto r = run(guest_image("disk_bench"),
                 {"--emulated-disk", image.path(), "--stats", "--cmdline",
                  "mode=verify size_kb=256 block_kb=160 gen=3"},
                 std::chrono::seconds(120));
    ASSERT_FALSE(r.timed_out) << r.out << r.err;
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("disk_bench: PASS"), std::string::npos) << r.out << r.err;
    // 512 sectors in calls of 320 (a 256-sector command, COUNT = 0, then 64): known
    // sectors are the first, both sides of the command boundary, and the last one.
    for (std::uint64_t s : {0ull, 255ull, 256ull, 300ull, 511ull})
        EXPECT_EQ(image.sector(s), expected_sector(s, 3)) << "sector " << s;
    EXPECT_EQ(image.sector(512), std::vector<std::uint8_t>(kSector, 0));  // past size_kb
    // The monitor counted the exits: 256 KiB written and read back at least once each.
    EXPECT_GE(stat_field(r.err, "edisk_data_bytes"), 512u << 10) << r.err;
    EXPECT_GT(stat_field(r.err, "edisk_register_exits"), 0u) << r.err;
    EXPECT_NE(r.err.find("edisk_exits_per_mib="), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("has no device"), std::string::npos) << r.err;
}

TEST_F(EmulatedDiskTest, WithoutADiskTheGuestDoesNotProbeThePorts) {
    auto r = run(guest_image("disk_bench"), {"--stats"});
    ASSERT_FALSE(r.timed_out);
    EXPECT_EQ(r.status, 2) << r.out << r.err;
    EXPECT_NE(r.out.find("no emulated disk"), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find("has no device"), std::string::npos) << r.err;  // no blind port reads
    EXPECT_EQ(r.err.find("edisk_"), std::string::npos) << r.err;
}

TEST_F(EmulatedDiskTest, ReadOnlyDiskReadsButRefusesWrites) {
    TempImage image(1 << 20);
    auto r = run(guest_image("disk_bench"), {"--emulated-disk", image.path(), "--emulated-disk-ro",
                                             "--cmdline", "mode=seqread size_mb=1"});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("edisk_seq_read_mib_s"), std::string::npos) << r.out;
    r = run(guest_image("disk_bench"),
            {"--emulated-disk", image.path(), "--emulated-disk-ro", "--cmdline", "mode=verify"});
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("read-only"), std::string::npos) << r.out;
    EXPECT_EQ(image.sector(0), std::vector<std::uint8_t>(kSector, 0));
}

TEST_F(EmulatedDiskTest, MissingImageIsAnOptionError) {
    auto r = run(guest_image("disk_bench"), {"--emulated-disk", "/nonexistent/disk.img"});
    EXPECT_NE(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.err.find("disk.img"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace domus::test
