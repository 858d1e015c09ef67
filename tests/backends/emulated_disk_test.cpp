// The emulated ATA disk driven through its ports as KVM would (no KVM): identify,
// sector transfers by word and in string batches, errors, read-only, flush, fuzz.
#include "backends/emulated_disk.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/log.hpp"

namespace domus::backends {
namespace {

constexpr std::size_t kSector = EDISK_SECTOR_SIZE;

// A raw image in a temporary file, removed at the end; `guard` bytes after the disk
// area belong to nobody and must never change.
class Image {
public:
    explicit Image(std::size_t sectors, std::size_t tail = 0) {
        // tmpfs when there is one: the fuzz test flushes often, and fdatasync is free there.
        char name[] = "/dev/shm/edisk_test_XXXXXX";
        int fd = ::mkstemp(name);
        if (fd < 0) {
            std::memcpy(name, "/tmp/edisk_test_XXXXXX", sizeof "/tmp/edisk_test_XXXXXX");
            fd = ::mkstemp(name);
        }
        EXPECT_GE(fd, 0);
        path_ = name;
        std::vector<std::byte> content(sectors * kSector + tail);
        for (std::size_t i = 0; i < content.size(); ++i)
            content[i] = std::byte(i * 7 + i / kSector);
        EXPECT_EQ(::write(fd, content.data(), content.size()), ssize_t(content.size()));
        ::close(fd);
    }
    ~Image() { ::unlink(path_.c_str()); }
    const std::string& path() const { return path_; }
    std::vector<std::byte> read_all() const {
        FILE* f = std::fopen(path_.c_str(), "rb");
        std::vector<std::byte> out;
        std::byte buffer[4096];
        while (std::size_t n = std::fread(buffer, 1, sizeof buffer, f))
            out.insert(out.end(), buffer, buffer + n);
        std::fclose(f);
        return out;
    }

private:
    std::string path_;
};

// A guest's view of the ports: each call below is one exit.
class Ports {
public:
    explicit Ports(EmulatedDisk& disk) : disk_(disk) {}
    void outb(std::uint16_t port, std::uint8_t value) {
        std::byte b{value};
        disk_.io(port, 1, 1, true, {&b, 1});
    }
    std::uint8_t inb(std::uint16_t port) {
        std::byte b{};
        disk_.io(port, 1, 1, false, {&b, 1});
        return std::uint8_t(b);
    }
    std::uint16_t inw(std::uint16_t port) {
        std::byte b[2]{};
        disk_.io(port, 2, 1, false, b);
        return std::uint16_t(std::uint8_t(b[0]) | std::uint8_t(b[1]) << 8);
    }
    void outw(std::uint16_t port, std::uint16_t value) {
        std::byte b[2]{std::byte(value & 0xFF), std::byte(value >> 8)};
        disk_.io(port, 2, 1, true, b);
    }
    // rep insl / rep outsl as KVM delivers them: `batch` dwords per exit.
    void insl(std::uint16_t port, std::byte* buffer, std::size_t dwords, std::size_t batch) {
        for (std::size_t done = 0; done < dwords;) {
            std::size_t n = std::min(batch, dwords - done);
            disk_.io(port, 4, std::uint32_t(n), false, {buffer + done * 4, n * 4});
            done += n;
        }
    }
    void outsl(std::uint16_t port, const std::byte* buffer, std::size_t dwords, std::size_t batch) {
        std::vector<std::byte> copy(buffer, buffer + dwords * 4);
        for (std::size_t done = 0; done < dwords;) {
            std::size_t n = std::min(batch, dwords - done);
            disk_.io(port, 4, std::uint32_t(n), true, {copy.data() + done * 4, n * 4});
            done += n;
        }
    }
    // The task file and the command, as a driver writes them.
    void command(std::uint8_t command, std::uint32_t lba = 0, std::uint8_t count = 0) {
        outb(EDISK_PORT_DEVICE,
             std::uint8_t(EDISK_DEVICE_OBSOLETE | EDISK_DEVICE_LBA | (lba >> 24 & 0xF)));
        outb(EDISK_PORT_COUNT, count);
        outb(EDISK_PORT_LBA_LOW, std::uint8_t(lba));
        outb(EDISK_PORT_LBA_MID, std::uint8_t(lba >> 8));
        outb(EDISK_PORT_LBA_HIGH, std::uint8_t(lba >> 16));
        outb(EDISK_PORT_COMMAND, command);
    }
    std::uint8_t status() { return inb(EDISK_PORT_STATUS); }
    std::uint8_t error() { return inb(EDISK_PORT_ERROR); }

private:
    EmulatedDisk& disk_;
};

std::unique_ptr<EmulatedDisk> open_disk(const Image& image, bool read_only = false) {
    auto disk = EmulatedDisk::open(image.path(), read_only);
    EXPECT_TRUE(disk) << (disk ? "" : disk.error().message);
    return disk ? std::move(disk).value() : nullptr;
}

std::vector<std::byte> pattern(std::size_t bytes, unsigned seed) {
    std::vector<std::byte> out(bytes);
    for (std::size_t i = 0; i < bytes; ++i)
        out[i] = std::byte((i * 131 + seed * 17 + i / 509) & 0xFF);
    return out;
}

constexpr std::uint8_t kReady = EDISK_STATUS_DRDY | EDISK_STATUS_DSC;

TEST(EmulatedDiskTest, OpenRejectsMissingAndEmptyImages) {
    EXPECT_FALSE(EmulatedDisk::open("/nonexistent/disk.img", false));
    Image empty(0, 100);  // less than one sector
    EXPECT_FALSE(EmulatedDisk::open(empty.path(), false));
    EXPECT_FALSE(EmulatedDisk::open("/tmp", false));
}

TEST(EmulatedDiskTest, IdentifyReportsCapacityAndModel) {
    Image image(1000, 300);  // a partial last sector does not count
    auto disk = open_disk(image);
    ASSERT_TRUE(disk);
    EXPECT_EQ(disk->sectors(), 1000u);
    Ports ports(*disk);
    EXPECT_EQ(ports.status(), kReady);
    ports.command(EDISK_CMD_IDENTIFY);
    ASSERT_EQ(ports.status(), kReady | EDISK_STATUS_DRQ);
    std::uint16_t words[256];
    for (auto& word : words)
        word = ports.inw(EDISK_PORT_DATA);
    EXPECT_EQ(ports.status(), kReady);
    EXPECT_EQ(words[EDISK_ID_GENERAL], 0x0040);
    EXPECT_EQ(words[EDISK_ID_LBA28_SECTORS] | std::uint32_t(words[EDISK_ID_LBA28_SECTORS + 1])
                                                  << 16,
              1000u);
    EXPECT_TRUE(words[EDISK_ID_CAPABILITIES] & (1u << 9));
    EXPECT_TRUE(words[EDISK_ID_COMMAND_SETS] & (1u << 12));
    EXPECT_EQ(words[EDISK_ID_DOMUS_FLAGS], 0);
    char model[41]{};
    for (int i = 0; i < 20; ++i) {
        model[2 * i] = char(words[EDISK_ID_MODEL + i] >> 8);
        model[2 * i + 1] = char(words[EDISK_ID_MODEL + i] & 0xFF);
    }
    EXPECT_EQ(std::string(model).substr(0, 19), "DOMUS EMULATED DISK");
}

TEST(EmulatedDiskTest, ReadSectorsByWordsMatchesTheImage) {
    Image image(64);
    auto disk = open_disk(image);
    Ports ports(*disk);
    ports.command(EDISK_CMD_READ_SECTORS, 5, 3);
    std::vector<std::byte> got;
    for (int sector = 0; sector < 3; ++sector) {
        ASSERT_EQ(ports.status(), kReady | EDISK_STATUS_DRQ);
        for (std::size_t i = 0; i < kSector / 2; ++i) {
            std::uint16_t w = ports.inw(EDISK_PORT_DATA);
            got.push_back(std::byte(w & 0xFF));
            got.push_back(std::byte(w >> 8));
        }
    }
    EXPECT_EQ(ports.status(), kReady);
    auto file = image.read_all();
    EXPECT_TRUE(std::equal(got.begin(), got.end(), file.begin() + 5 * kSector));
    auto s = disk->stats();
    EXPECT_EQ(s.data_exits, 3 * kSector / 2);
    EXPECT_EQ(s.data_bytes, 3 * kSector);
    EXPECT_EQ(s.commands, 1u);
    EXPECT_EQ(s.errors, 0u);
}

TEST(EmulatedDiskTest, StringBatchesWriteThenReadBack256Sectors) {
    Image image(600);
    auto disk = open_disk(image);
    Ports ports(*disk);
    auto data = pattern(256 * kSector, 1);
    ports.command(EDISK_CMD_WRITE_SECTORS, 300, 0);  // 0 means 256
    ASSERT_EQ(ports.status() & EDISK_STATUS_DRQ, EDISK_STATUS_DRQ);
    // Batches that do not line up with sectors: the device keeps DRQ across them.
    ports.outsl(EDISK_PORT_DATA, data.data(), data.size() / 4, 1000);
    EXPECT_EQ(ports.status(), kReady);
    auto file = image.read_all();
    EXPECT_TRUE(std::equal(data.begin(), data.end(), file.begin() + 300 * kSector));
    EXPECT_EQ(file[299 * kSector], std::byte(299 * kSector * 7 + 299));  // neighbours kept
    EXPECT_EQ(file[556 * kSector], std::byte(556 * kSector * 7 + 556));

    std::vector<std::byte> back(data.size());
    ports.command(EDISK_CMD_READ_SECTORS, 300, 0);
    for (std::size_t sector = 0; sector < 256; ++sector) {  // the ATA way: one DRQ block each
        ASSERT_EQ(ports.status(), kReady | EDISK_STATUS_DRQ) << sector;
        ports.insl(EDISK_PORT_DATA, back.data() + sector * kSector, kSector / 4, 1024);
    }
    EXPECT_EQ(ports.status(), kReady);
    EXPECT_EQ(back, data);
    auto s = disk->stats();
    EXPECT_EQ(s.data_bytes, 2 * data.size());
    EXPECT_EQ(s.errors, 0u);
}

TEST(EmulatedDiskTest, LbaBits24To27ComeFromTheDeviceRegister) {
    // A sparse image past 2^24 sectors (8 GiB) without using the space.
    Image image(1);
    ASSERT_EQ(::truncate(image.path().c_str(), off_t(0x1000010) * kSector), 0);
    auto disk = open_disk(image);
    Ports ports(*disk);
    auto data = pattern(kSector, 9);
    ports.command(EDISK_CMD_WRITE_SECTORS, 0x1000005, 1);
    ports.outsl(EDISK_PORT_DATA, data.data(), kSector / 4, 128);
    ASSERT_EQ(ports.status(), kReady);
    FILE* f = std::fopen(image.path().c_str(), "rb");
    std::vector<std::byte> got(kSector);
    ASSERT_EQ(std::fseek(f, long(0x1000005) * long(kSector), SEEK_SET), 0);
    ASSERT_EQ(std::fread(got.data(), 1, kSector, f), kSector);
    std::fclose(f);
    EXPECT_EQ(got, data);
}

TEST(EmulatedDiskTest, OutOfRangeLbaIsIdnfAndTouchesNothing) {
    Image image(100, 511);  // a partial sector past the end must stay untouched
    auto before = image.read_all();
    auto disk = open_disk(image);
    Ports ports(*disk);
    ports.command(EDISK_CMD_READ_SECTORS, 100, 1);
    EXPECT_EQ(ports.status(), kReady | EDISK_STATUS_ERR);
    EXPECT_EQ(ports.error(), EDISK_ERROR_IDNF | EDISK_ERROR_ABRT);
    ports.command(EDISK_CMD_WRITE_SECTORS, 99, 2);  // starts inside, ends outside
    EXPECT_EQ(ports.status(), kReady | EDISK_STATUS_ERR);
    EXPECT_EQ(ports.error(), EDISK_ERROR_IDNF | EDISK_ERROR_ABRT);
    ports.command(EDISK_CMD_WRITE_SECTORS, 0x0FFFFFFF, 0);
    EXPECT_EQ(ports.error(), EDISK_ERROR_IDNF | EDISK_ERROR_ABRT);
    // With no transfer, data goes nowhere and reads float high.
    auto junk = pattern(kSector, 3);
    ports.outsl(EDISK_PORT_DATA, junk.data(), kSector / 4, 128);
    EXPECT_EQ(ports.inw(EDISK_PORT_DATA), 0xFFFF);
    EXPECT_EQ(image.read_all(), before);
    // The last sector itself is fine.
    ports.command(EDISK_CMD_READ_SECTORS, 99, 1);
    EXPECT_EQ(ports.status(), kReady | EDISK_STATUS_DRQ);
}

TEST(EmulatedDiskTest, UnknownCommandAndChsAndDriveOneAbort) {
    Image image(16);
    auto disk = open_disk(image);
    Ports ports(*disk);
    ports.command(0xC4);  // READ MULTIPLE: not offered
    EXPECT_EQ(ports.status(), kReady | EDISK_STATUS_ERR);
    EXPECT_EQ(ports.error(), EDISK_ERROR_ABRT);
    ports.outb(EDISK_PORT_DEVICE, EDISK_DEVICE_OBSOLETE);  // CHS
    ports.outb(EDISK_PORT_COMMAND, EDISK_CMD_READ_SECTORS);
    EXPECT_EQ(ports.error(), EDISK_ERROR_ABRT);
    ports.outb(EDISK_PORT_DEVICE, EDISK_DEVICE_OBSOLETE | EDISK_DEVICE_LBA | EDISK_DEVICE_DRIVE1);
    ports.outb(EDISK_PORT_COMMAND, EDISK_CMD_IDENTIFY);
    EXPECT_EQ(ports.status(), kReady | EDISK_STATUS_ERR);
    // A good command clears the error.
    ports.command(EDISK_CMD_IDENTIFY);
    EXPECT_EQ(ports.status(), kReady | EDISK_STATUS_DRQ);
    EXPECT_EQ(ports.error(), 0);
    EXPECT_EQ(disk->stats().errors, 3u);
}

TEST(EmulatedDiskTest, CommandsOutOfSequenceAbortTheTransfer) {
    Image image(16);
    auto before = image.read_all();
    auto disk = open_disk(image);
    Ports ports(*disk);
    // A new command in the middle of a write: both aborted, nothing written.
    ports.command(EDISK_CMD_WRITE_SECTORS, 2, 2);
    auto data = pattern(kSector, 5);
    ports.outsl(EDISK_PORT_DATA, data.data(), kSector / 4, 128);  // one of two sectors
    ports.command(EDISK_CMD_READ_SECTORS, 0, 1);
    EXPECT_EQ(ports.status(), kReady | EDISK_STATUS_ERR);
    EXPECT_EQ(ports.error(), EDISK_ERROR_ABRT);
    ports.outsl(EDISK_PORT_DATA, data.data(), kSector / 4, 128);  // the rest goes nowhere
    EXPECT_EQ(image.read_all(), before);
    // Reading during a write, writing during a read: aborted.
    ports.command(EDISK_CMD_WRITE_SECTORS, 2, 1);
    EXPECT_EQ(ports.inw(EDISK_PORT_DATA), 0xFFFF);
    EXPECT_EQ(ports.status(), kReady | EDISK_STATUS_ERR);
    ports.command(EDISK_CMD_READ_SECTORS, 2, 1);
    ports.outw(EDISK_PORT_DATA, 0x1234);
    EXPECT_EQ(ports.status(), kReady | EDISK_STATUS_ERR);
    // 8-bit data accesses are refused.
    ports.command(EDISK_CMD_READ_SECTORS, 2, 1);
    EXPECT_EQ(ports.inb(EDISK_PORT_DATA), 0xFF);
    EXPECT_EQ(ports.error(), EDISK_ERROR_ABRT);
    // Reading past the end of a transfer floats high and flags ERR.
    ports.command(EDISK_CMD_READ_SECTORS, 2, 1);
    std::vector<std::byte> buffer(kSector + 8);
    ports.insl(EDISK_PORT_DATA, buffer.data(), buffer.size() / 4, 1024);
    EXPECT_EQ(buffer[kSector + 3], std::byte{0xFF});
    EXPECT_EQ(ports.status(), kReady | EDISK_STATUS_ERR);
    EXPECT_EQ(image.read_all(), before);
}

TEST(EmulatedDiskTest, SoftResetCancelsATransfer) {
    Image image(16);
    auto disk = open_disk(image);
    Ports ports(*disk);
    ports.command(EDISK_CMD_READ_SECTORS, 0, 4);
    ports.outb(EDISK_PORT_CONTROL, EDISK_CONTROL_SRST);
    ports.outb(EDISK_PORT_CONTROL, 0);
    EXPECT_EQ(ports.inb(EDISK_PORT_ALT_STATUS), kReady);
    EXPECT_EQ(ports.inb(EDISK_PORT_COUNT), 1);  // the ATA signature
    EXPECT_EQ(ports.inb(EDISK_PORT_LBA_LOW), 1);
    EXPECT_EQ(ports.inw(EDISK_PORT_DATA), 0xFFFF);
}

TEST(EmulatedDiskTest, ReadOnlyDiskRefusesWritesButReadsAndFlushes) {
    Image image(16);
    auto before = image.read_all();
    ::chmod(image.path().c_str(), 0444);  // opened O_RDONLY: no write permission needed
    auto disk = open_disk(image, true);
    ASSERT_TRUE(disk);
    Ports ports(*disk);
    ports.command(EDISK_CMD_WRITE_SECTORS, 1, 1);
    EXPECT_EQ(ports.status(), kReady | EDISK_STATUS_ERR);
    EXPECT_EQ(ports.error(), EDISK_ERROR_ABRT);
    auto data = pattern(kSector, 2);
    ports.outsl(EDISK_PORT_DATA, data.data(), kSector / 4, 128);
    EXPECT_EQ(image.read_all(), before);
    ports.command(EDISK_CMD_FLUSH_CACHE);
    EXPECT_EQ(ports.status(), kReady);
    ports.command(EDISK_CMD_IDENTIFY);
    std::uint16_t words[256];
    for (auto& word : words)
        word = ports.inw(EDISK_PORT_DATA);
    EXPECT_EQ(words[EDISK_ID_DOMUS_FLAGS], EDISK_ID_FLAG_READ_ONLY);
    ports.command(EDISK_CMD_READ_SECTORS, 1, 1);
    EXPECT_EQ(ports.status(), kReady | EDISK_STATUS_DRQ);
}

TEST(EmulatedDiskTest, FlushCompletes) {
    Image image(16);
    auto disk = open_disk(image);
    Ports ports(*disk);
    ports.command(EDISK_CMD_FLUSH_CACHE);
    EXPECT_EQ(ports.status(), kReady);
    EXPECT_EQ(ports.error(), 0);
}

TEST(EmulatedDiskTest, WideRegisterAccessesSplitIntoBytes) {
    Image image(70000);
    auto disk = open_disk(image);
    Ports ports(*disk);
    // One 32-bit write at COUNT sets COUNT, LBA low, mid and high.
    std::byte regs[4]{std::byte{2}, std::byte{0x10}, std::byte{0x01}, std::byte{0x01}};
    ports.outb(EDISK_PORT_DEVICE, EDISK_DEVICE_OBSOLETE | EDISK_DEVICE_LBA);
    disk->io(EDISK_PORT_COUNT, 4, 1, true, regs);
    EXPECT_EQ(ports.inb(EDISK_PORT_LBA_HIGH), 1);
    // A 32-bit read at STATUS returns STATUS and three bytes past the registers.
    std::byte out[4]{};
    disk->io(EDISK_PORT_STATUS, 4, 1, false, out);
    EXPECT_EQ(std::uint8_t(out[0]), kReady);
    EXPECT_EQ(std::uint8_t(out[1]), 0xFF);
    ports.outb(EDISK_PORT_COMMAND, EDISK_CMD_READ_SECTORS);
    EXPECT_EQ(ports.status(), kReady | EDISK_STATUS_DRQ);  // LBA 0x10110 + 2 < 70000
}

// Two vCPUs without a guest-side lock: their commands interleave and abort each other,
// but every access is serialized inside the device (run under TSan/ASan to see it).
TEST(EmulatedDiskTest, ConcurrentVcpusAreSerialized) {
    Image image(64);
    auto disk = open_disk(image);
    auto run = [&] {
        Ports ports(*disk);
        std::vector<std::byte> buffer(kSector);
        for (int i = 0; i < 500; ++i) {
            ports.command(EDISK_CMD_READ_SECTORS, std::uint32_t(i % 60), 1);
            ports.insl(EDISK_PORT_DATA, buffer.data(), kSector / 4, 1024);
        }
    };
    std::thread a(run), b(run);
    a.join();
    b.join();
    auto s = disk->stats();
    EXPECT_EQ(s.commands, 1000u);
    EXPECT_EQ(s.data_exits, 1000u);
    EXPECT_EQ(s.register_exits, 6000u);
}

// Random ports, sizes, counts, directions and data with a fixed seed: the device must
// neither crash nor touch the file outside the disk area (the tail stays as it was).
TEST(EmulatedDiskTest, HostileRegisterFuzzStaysInsideTheImage) {
    constexpr std::size_t kSectors = 32, kTail = 511;  // the tail is not a whole sector
    Image image(kSectors, kTail);
    auto before = image.read_all();
    auto disk = open_disk(image);
    log::Config::instance().level = log::Level::error;  // rate-limited, but noisy here
    std::mt19937 random(0xED15C);
    const std::uint16_t ports[] = {0x1F0, 0x1F1, 0x1F2, 0x1F3, 0x1F4, 0x1F5,
                                   0x1F6, 0x1F7, 0x3F6, 0x1F7, 0x1F0, 0x1F0};
    // FLUSH is left to chance (random command bytes): each one is an fdatasync.
    const std::uint8_t commands[] = {EDISK_CMD_READ_SECTORS, EDISK_CMD_WRITE_SECTORS,
                                     EDISK_CMD_IDENTIFY, 0x00, 0xFF};
    std::vector<std::byte> data(4096);
    for (int i = 0; i < 100000; ++i) {
        std::uint16_t port = ports[random() % std::size(ports)];
        std::uint8_t size = std::uint8_t(1u << (random() % 3));
        std::uint32_t count = random() % 4 == 0 ? 1 + random() % (4096 / size) : 1;
        bool is_write = random() % 2;
        for (std::size_t j = 0; j < std::size_t(size) * count; ++j)
            data[j] = std::byte(random());
        if (is_write && port == EDISK_PORT_COMMAND && random() % 2)
            data[0] = std::byte(commands[random() % std::size(commands)]);
        if (is_write && port == EDISK_PORT_DEVICE && random() % 2)
            data[0] = std::byte(0xE0 | (random() % 16));
        if (is_write && port == EDISK_PORT_CONTROL && random() % 16) data[0] = std::byte{0};
        disk->io(port, size, count, is_write, {data.data(), std::size_t(size) * count});
    }
    // Malformed shapes KVM never sends are refused too.
    disk->io(EDISK_PORT_DATA, 3, 1, false, {data.data(), 3});
    disk->io(EDISK_PORT_DATA, 4, 2, false, {data.data(), 4});
    disk->io(EDISK_PORT_DATA, 4, 0, true, {data.data(), 0});
    log::Config::instance().level = log::Level::info;
    auto after = image.read_all();
    ASSERT_EQ(after.size(), before.size());
    EXPECT_TRUE(std::equal(after.begin() + kSectors * kSector, after.end(),
                           before.begin() + kSectors * kSector));
    auto s = disk->stats();
    EXPECT_GT(s.commands, 1000u);
    EXPECT_GT(s.errors, 0u);
    EXPECT_GT(s.data_bytes, 0u);  // some transfers really ran
}

}  // namespace
}  // namespace domus::backends
