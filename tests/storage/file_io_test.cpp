// file_io's loops under a misbehaving kernel (the fault-injection shim linked in): short
// transfers are continued, EINTR and EAGAIN retried, and the file ends up exactly right.
#include "storage/file_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <random>

#include "base/fd.hpp"
#include "fault_inject.h"
#include "test_files.hpp"

namespace domus::storage {
namespace {

// Faults on for the life of the object (off again even when the test fails).
struct Faults {
    explicit Faults(const char* spec) { domus_faults_configure(spec); }
    ~Faults() { domus_faults_configure(nullptr); }
};

constexpr const char* kAllFaults = "short:0.5,eagain:0.3,eintr:0.3,seed=5";

TEST(FileIo, WholeBuffersMoveDespiteShortTransfersEagainAndEintr) {
    testing::TempDir dir;
    Fd fd(::open(dir.file("data").c_str(), O_RDWR | O_CREAT, 0600));
    ASSERT_TRUE(fd);
    auto data = testing::pattern(0, 1 << 20, 3);
    std::vector<std::byte> back(data.size());
    {
        Faults faults(kAllFaults);
        for (std::size_t at = 0; at < data.size(); at += 64 << 10) {
            auto written = write_all(fd.get(), std::span(data).subspan(at, 64 << 10), at);
            ASSERT_TRUE(written) << written.error().message;
        }
        auto read = read_exact(fd.get(), back, 0);
        ASSERT_TRUE(read) << read.error().message;
        auto synced = sync_data(fd.get());
        ASSERT_TRUE(synced) << synced.error().message;
        EXPECT_GT(domus_faults_count(DOMUS_FAULT_SHORT), 0u);
        EXPECT_GT(domus_faults_count(DOMUS_FAULT_EAGAIN), 0u);
        EXPECT_GT(domus_faults_count(DOMUS_FAULT_EINTR), 0u);
    }
    EXPECT_EQ(back, data);
    EXPECT_EQ(testing::read_file(dir.file("data")), data);
}

TEST(FileIo, VectoredTransfersContinueAfterShortOnesAndRetryEagain) {
    testing::TempDir dir;
    Fd fd(::open(dir.file("data").c_str(), O_RDWR | O_CREAT, 0600));
    ASSERT_TRUE(fd);
    auto data = testing::pattern(0, 32 * 4096, 9);
    std::vector<std::byte> back(data.size());
    Faults faults(kAllFaults);
    for (int round = 0; round < 20; ++round) {
        std::vector<iovec> pieces;
        for (std::size_t at = 0; at < data.size(); at += 4096)
            pieces.push_back({data.data() + at, 4096});
        auto written = write_all_v(fd.get(), pieces, 0);
        ASSERT_TRUE(written) << written.error().message;
        EXPECT_TRUE(pieces.empty());
        std::vector<iovec> into;
        for (std::size_t at = 0; at < back.size(); at += 4096)
            into.push_back({back.data() + at, 4096});
        auto read = read_exact_v(fd.get(), into, 0);
        ASSERT_TRUE(read) << read.error().message;
        ASSERT_EQ(back, data);
    }
    EXPECT_GT(domus_faults_count(DOMUS_FAULT_SHORT), 0u);
    EXPECT_GT(domus_faults_count(DOMUS_FAULT_EAGAIN), 0u);
}

}  // namespace
}  // namespace domus::storage
