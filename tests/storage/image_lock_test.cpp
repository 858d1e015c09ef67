// ImageLock: QEMU's lock bytes, writers exclusive and readers shared between owners, one
// owner's images never refusing each other, and the refusal naming the holder process.
#include "storage/image_lock.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>

#include "storage/block_image.hpp"
#include "storage/image_create.hpp"
#include "storage/image_info.hpp"
#include "test_files.hpp"

extern char** environ;

namespace domus::storage {
namespace {

using testing::TempDir;

// Whether another description than `probe`'s holds a lock on `byte` (what QEMU tests).
bool taken(int probe, off_t byte) {
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = byte;
    lock.l_len = 1;
    EXPECT_EQ(::fcntl(probe, F_OFD_GETLK, &lock), 0);
    return lock.l_type != F_UNLCK;
}

std::vector<off_t> taken_bytes(const std::string& path) {
    Fd probe(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    std::vector<off_t> bytes;
    for (off_t byte = 95; byte < 210; ++byte)
        if (taken(probe.get(), byte)) bytes.push_back(byte);
    return bytes;
}

// A process that holds `bytes` of `path` on an open file description of its own, with
// the command line `argv` (argv[0] is what /proc shows; /bin/sh runs it, reading stdin
// until we close it). Stands in for a domus-vmm or another tool holding an image.
class Holder {
public:
    Holder(const std::string& path, const std::vector<off_t>& bytes,
           std::vector<std::string> argv) {
        Fd file(::open(path.c_str(), O_RDWR));  // inherited: no O_CLOEXEC
        for (off_t byte : bytes) {
            struct flock lock {};
            lock.l_type = F_RDLCK;
            lock.l_whence = SEEK_SET;
            lock.l_start = byte;
            lock.l_len = 1;
            EXPECT_EQ(::fcntl(file.get(), F_OFD_SETLK, &lock), 0);
        }
        int pipe_fds[2];
        EXPECT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
        stdin_ = Fd(pipe_fds[1]);
        Fd read_end(pipe_fds[0]);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, read_end.get(), 0);
        posix_spawn_file_actions_adddup2(&actions, file.get(), 3);
        // "-c 'read x'" after argv[0]: the rest only shows in /proc/<pid>/cmdline.
        argv.insert(argv.begin() + 1, {"-c", "read x", "sh"});
        std::vector<char*> args;
        for (auto& a : argv)
            args.push_back(a.data());
        args.push_back(nullptr);
        EXPECT_EQ(posix_spawn(&pid_, "/bin/sh", &actions, nullptr, args.data(), environ), 0);
        posix_spawn_file_actions_destroy(&actions);
        // Our copy closes here: from now on only the child holds the bytes.
    }
    ~Holder() {
        stdin_.reset();  // `read` ends, so does the shell
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
    pid_t pid() const { return pid_; }

private:
    Fd stdin_;
    pid_t pid_ = -1;
};

const std::vector<off_t> kQemuWriterBytes = {100, 101, 103, 201, 203};

class ImageLockTest : public ::testing::Test {
protected:
    void SetUp() override {
        path = dir.file("disk.raw");
        ASSERT_TRUE(create_image(path, 1 << 20, Format::raw, std::nullopt));
        fd = Fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
        ASSERT_TRUE(fd);
    }
    TempDir dir;
    std::string path;
    Fd fd;
};

TEST_F(ImageLockTest, TakesQemusBytesForWritersAndReaders) {
    ImageLockTable owner;
    {
        auto writer = ImageLock::acquire(fd.get(), path, kWriterLock, owner);
        ASSERT_TRUE(writer) << writer.error().message;
        // Held: read, write, resize; not shared: write, resize (what qemu-io shows).
        EXPECT_EQ(taken_bytes(path), kQemuWriterBytes);
    }
    EXPECT_TRUE(taken_bytes(path).empty());
    auto reader = ImageLock::acquire(fd.get(), path, kReaderLock, owner);
    ASSERT_TRUE(reader) << reader.error().message;
    EXPECT_EQ(taken_bytes(path), (std::vector<off_t>{100, 201, 203}));
}

TEST_F(ImageLockTest, ASecondWriterIsRefusedAndTheFirstKeepsItsLock) {
    ImageLockTable first, second;
    auto a = ImageLock::acquire(fd.get(), path, kWriterLock, first);
    ASSERT_TRUE(a) << a.error().message;
    auto b = ImageLock::acquire(fd.get(), path, kWriterLock, second);
    ASSERT_FALSE(b);
    EXPECT_NE(b.error().message.find(path + " is in use by "), std::string::npos)
        << b.error().message;
    EXPECT_NE(b.error().message.find("(pid " + std::to_string(::getpid()) + ")"), std::string::npos)
        << b.error().message;
    EXPECT_NE(b.error().message.find("has it open for writing"), std::string::npos)
        << b.error().message;
    // The refused attempt took nothing away from the holder.
    EXPECT_EQ(taken_bytes(path), kQemuWriterBytes);
    EXPECT_FALSE(ImageLock::acquire(fd.get(), path, kReaderLock, second));
    a->release();
    EXPECT_TRUE(ImageLock::acquire(fd.get(), path, kWriterLock, second));
}

// Migration's hand-over: an inactivated owner holds no byte, so the destination's
// monitor (another owner) opens the image; activate() then refuses, naming it; once the
// destination lets go, activate() takes every byte back.
TEST_F(ImageLockTest, InactivatedImagesGoToAnotherOwnerAndComeBack) {
    ImageLockTable source, destination;
    auto held = ImageLock::acquire(fd.get(), path, kWriterLock, source);
    ASSERT_TRUE(held) << held.error().message;
    source.inactivate();
    EXPECT_TRUE(taken_bytes(path).empty());
    {
        auto other = ImageLock::acquire(fd.get(), path, kWriterLock, destination);
        ASSERT_TRUE(other) << other.error().message;
        auto back = source.activate();
        EXPECT_FALSE(back);
        other->release();
    }
    source.inactivate();
    ASSERT_TRUE(source.activate());
    EXPECT_EQ(taken_bytes(path), kQemuWriterBytes);
    EXPECT_FALSE(ImageLock::acquire(fd.get(), path, kWriterLock, destination));
}

TEST_F(ImageLockTest, TwoWritersRacingNeverBothGetTheImage) {
    // Each takes its bytes before it looks for the other's: at worst both fail.
    int both = 0, one = 0;
    for (int round = 0; round < 150; ++round) {
        ImageLockTable first, second;
        std::optional<Result<ImageLock>> a, b;
        std::thread racer(
            [&] { a.emplace(ImageLock::acquire(fd.get(), path, kWriterLock, first)); });
        b.emplace(ImageLock::acquire(fd.get(), path, kWriterLock, second));
        racer.join();
        both += (*a && *b);
        one += (bool(*a) != bool(*b));
    }
    EXPECT_EQ(both, 0);
    EXPECT_GT(one, 0);
}

TEST_F(ImageLockTest, ReadersShareAndKeepWritersOut) {
    ImageLockTable one, two, writer;
    auto a = ImageLock::acquire(fd.get(), path, kReaderLock, one);
    auto b = ImageLock::acquire(fd.get(), path, kReaderLock, two);
    ASSERT_TRUE(a) << a.error().message;
    ASSERT_TRUE(b) << b.error().message;
    auto w = ImageLock::acquire(fd.get(), path, kWriterLock, writer);
    ASSERT_FALSE(w);
    EXPECT_NE(w.error().message.find("does not let others write to it"), std::string::npos)
        << w.error().message;
}

TEST_F(ImageLockTest, OneOwnersImagesDoNotRefuseEachOtherAndReleaseOnlyTheirOwnBytes) {
    // The snapshot swap: the old top (writer) and the new overlay's backing (reader)
    // are open together in one monitor; then the old top closes.
    ImageLockTable monitor, other;
    auto top = ImageLock::acquire(fd.get(), path, kWriterLock, monitor);
    ASSERT_TRUE(top) << top.error().message;
    Fd second_fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    auto backing = ImageLock::acquire(second_fd.get(), path, kReaderLock, monitor);
    ASSERT_TRUE(backing) << backing.error().message;
    EXPECT_FALSE(ImageLock::acquire(fd.get(), path, kReaderLock, other));
    top->release();
    EXPECT_EQ(taken_bytes(path), (std::vector<off_t>{100, 201, 203}));
    // A frozen backing file: other readers (qemu-img check) are welcome, writers not.
    EXPECT_TRUE(ImageLock::acquire(fd.get(), path, kReaderLock, other));
    EXPECT_FALSE(ImageLock::acquire(fd.get(), path, kWriterLock, other));
}

TEST_F(ImageLockTest, OneOwnerRefusesASecondWriterOfTheSameFile) {
    // One disk given twice to one domain: two writers with their own caches.
    ImageLockTable monitor;
    auto first = ImageLock::acquire(fd.get(), path, kWriterLock, monitor);
    ASSERT_TRUE(first) << first.error().message;
    Fd second_fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    auto second = ImageLock::acquire(second_fd.get(), path, kRawWriterLock, monitor);
    ASSERT_FALSE(second);
    EXPECT_NE(second.error().message.find(path + " is already open for writing in this process"),
              std::string::npos)
        << second.error().message;
    EXPECT_EQ(taken_bytes(path), kQemuWriterBytes);  // the first one's, untouched
}

TEST_F(ImageLockTest, TheRefusalNamesTheDomainHoldingTheImage) {
    Holder vmm(path, kQemuWriterBytes,
               {"/usr/libexec/domus/domus-vmm", "/k/idle", "--name", "web", "--domid", "3"});
    // The bytes are the child's once posix_spawn returned: no waiting needed.
    auto image = open_image(path, Format::raw, false);
    ASSERT_FALSE(image);
    EXPECT_EQ(image.error().message, path + " is in use by domain \"web\" (domus-vmm pid " +
                                         std::to_string(vmm.pid()) +
                                         "), which has it open for writing");
    // Read-only is refused as well (a reader does not share writes), but looking works.
    EXPECT_FALSE(open_image(path, Format::raw, true));
    auto info = image_info(path);
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->virtual_size, 1u << 20);
    EXPECT_TRUE(inspect_image(path, Format::raw));
}

TEST_F(ImageLockTest, AnotherProgramIsNamedByItsName) {
    Holder tool(path, kQemuWriterBytes, {"qemu-img", "commit"});
    auto image = open_image(path, Format::raw, false);
    ASSERT_FALSE(image);
    EXPECT_NE(image.error().message.find("in use by sh (pid " + std::to_string(tool.pid()) + ")"),
              std::string::npos)
        << image.error().message;
}

TEST_F(ImageLockTest, CreatingOverAnImageInUseIsRefusedAndLeavesItAlone) {
    std::vector<std::byte> data(512, std::byte{0x5a});
    ASSERT_EQ(::pwrite(fd.get(), data.data(), data.size(), 0), 512);
    ImageLockTable domain;
    auto held = ImageLock::acquire(fd.get(), path, kWriterLock, domain);
    ASSERT_TRUE(held);
    // create_image locks through the process owner: a different one from `domain`.
    auto created = create_image(path, 4096, Format::raw, std::nullopt);
    ASSERT_FALSE(created);
    EXPECT_NE(created.error().message.find("is in use by"), std::string::npos)
        << created.error().message;
    EXPECT_EQ(testing::read_file(path).size(), 1u << 20);
}

TEST_F(ImageLockTest, AQcow2ChainLocksItsTopExclusiveAndItsBackingShared) {
    std::string base = dir.file("base.qcow2"), top = dir.file("top.qcow2");
    ASSERT_TRUE(create_image(base, 1 << 20, Format::qcow2, std::nullopt));
    ASSERT_TRUE(create_image(top, std::nullopt, Format::qcow2, std::string("base.qcow2")));
    {
        auto image = open_image(top, Format::qcow2, false);
        ASSERT_TRUE(image) << image.error().message;
        EXPECT_EQ(taken_bytes(top), kQemuWriterBytes);
        EXPECT_EQ(taken_bytes(base), (std::vector<off_t>{100, 201, 203}));
        // A second overlay over the same base (another domain's) opens: readers share.
        std::string sibling = dir.file("sibling.qcow2");
        ASSERT_TRUE(create_image(sibling, std::nullopt, Format::qcow2, std::string("base.qcow2")));
        EXPECT_TRUE(open_image(sibling, Format::qcow2, false));
    }
    EXPECT_TRUE(taken_bytes(top).empty());
    EXPECT_TRUE(taken_bytes(base).empty());
}

}  // namespace
}  // namespace domus::storage
