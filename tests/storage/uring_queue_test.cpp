// UringQueue on a temporary file: tagged writes, fsync and reads (plain and vectored);
// eventfd signalling.
#include "storage/uring_queue.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "base/fd.hpp"
#include "fault_inject.h"
#include "test_files.hpp"

namespace domus::storage {
namespace {

TEST(UringQueue, WriteFsyncReadWithTags) {
    auto queue = UringQueue::create(8);
    if (!queue) GTEST_SKIP() << "io_uring unavailable: " << queue.error().message;
    testing::TempDir dir;
    Fd fd(::open(dir.file("data").c_str(), O_RDWR | O_CREAT, 0600));
    ASSERT_TRUE(fd);
    EXPECT_FALSE(queue->try_reap());

    auto first = testing::pattern(0, 4096, 1);
    auto second = testing::pattern(4096, 4096, 2);
    ASSERT_TRUE(queue->queue_write(fd.get(), first, 0, 11));
    ASSERT_TRUE(queue->queue_write(fd.get(), second, 4096, 12));
    auto submitted = queue->submit();
    ASSERT_TRUE(submitted);
    EXPECT_EQ(*submitted, 2u);
    std::set<std::uint64_t> tags;
    for (int i = 0; i < 2; ++i) {
        auto done = queue->wait();
        ASSERT_TRUE(done);
        EXPECT_EQ(done->result, 4096);
        tags.insert(done->tag);
    }
    EXPECT_EQ(tags, (std::set<std::uint64_t>{11, 12}));

    // The two write completions have signalled the eventfd already: reset it first.
    std::uint64_t count = 0;
    ASSERT_EQ(::read(queue->event_fd(), &count, sizeof count), 8);
    EXPECT_GE(count, 1u);
    pollfd p{queue->event_fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 0), 0);
    ASSERT_TRUE(queue->queue_fsync(fd.get(), true, 13));
    ASSERT_TRUE(queue->submit());
    // The registered eventfd becomes readable when the completion is posted.
    ASSERT_EQ(::poll(&p, 1, 5000), 1);
    ASSERT_EQ(::read(queue->event_fd(), &count, sizeof count), 8);
    auto synced = queue->try_reap();
    ASSERT_TRUE(synced);
    EXPECT_EQ(synced->tag, 13u);
    EXPECT_EQ(synced->result, 0);

    std::vector<std::byte> back(8192);
    ASSERT_TRUE(queue->queue_read(fd.get(), back, 0, 14));
    ASSERT_TRUE(queue->submit());
    auto read = queue->wait();
    ASSERT_TRUE(read);
    EXPECT_EQ(read->result, 8192);
    EXPECT_TRUE(std::equal(first.begin(), first.end(), back.begin()));
    EXPECT_TRUE(std::equal(second.begin(), second.end(), back.begin() + 4096));
    EXPECT_EQ(queue->in_flight(), 0u);
}

// Pieces of different sizes at odd places in separate buffers (like sector ranges of
// granted pages) land on consecutive file bytes, and read back into other pieces.
TEST(UringQueue, VectoredWriteAndReadUsePiecesInOrder) {
    auto queue = UringQueue::create(8);
    if (!queue) GTEST_SKIP() << "io_uring unavailable: " << queue.error().message;
    testing::TempDir dir;
    Fd fd(::open(dir.file("data").c_str(), O_RDWR | O_CREAT, 0600));
    ASSERT_TRUE(fd);
    constexpr std::uint64_t kOffset = 3 * 512;
    auto data = testing::pattern(kOffset, 3584 + 4096 + 1024, 7);
    std::vector<std::byte> pages(3 * 4096);
    std::copy_n(data.begin(), 3584, pages.begin() + 512);              // page 0 at 512
    std::copy_n(data.begin() + 3584, 4096, pages.begin() + 4096);      // page 1, whole
    std::copy_n(data.begin() + 7680, 1024, pages.begin() + 2 * 4096);  // page 2 head
    std::vector<iovec> out = {
        {pages.data() + 512, 3584}, {pages.data() + 4096, 4096}, {pages.data() + 2 * 4096, 1024}};
    ASSERT_TRUE(queue->queue_writev(fd.get(), out, kOffset, 21));
    ASSERT_TRUE(queue->submit());
    auto written = queue->wait();
    ASSERT_TRUE(written);
    EXPECT_EQ(written->tag, 21u);
    EXPECT_EQ(written->result, std::int32_t(data.size()));

    std::vector<std::byte> file(data.size());
    ASSERT_EQ(::pread(fd.get(), file.data(), file.size(), kOffset), ssize_t(file.size()));
    EXPECT_EQ(file, data);

    // Read back split differently: 512 bytes, then the rest into a second buffer.
    std::vector<std::byte> head(512), tail(data.size() - 512);
    std::vector<iovec> in = {{head.data(), head.size()}, {tail.data(), tail.size()}};
    ASSERT_TRUE(queue->queue_readv(fd.get(), in, kOffset, 22));
    ASSERT_TRUE(queue->submit());
    auto read = queue->wait();
    ASSERT_TRUE(read);
    EXPECT_EQ(read->tag, 22u);
    EXPECT_EQ(read->result, std::int32_t(data.size()));
    EXPECT_TRUE(std::equal(head.begin(), head.end(), data.begin()));
    EXPECT_TRUE(std::equal(tail.begin(), tail.end(), data.begin() + 512));

    // Past the end of the file a vectored read is short, not an error.
    std::vector<std::byte> beyond(4096);
    std::vector<iovec> last = {{beyond.data(), 2048}, {beyond.data() + 2048, 2048}};
    ASSERT_TRUE(queue->queue_readv(fd.get(), last, kOffset + data.size() - 1024, 23));
    ASSERT_TRUE(queue->submit());
    auto short_read = queue->wait();
    ASSERT_TRUE(short_read);
    EXPECT_EQ(short_read->result, 1024);
}

TEST(UringQueue, ErrorsComeBackAsNegativeErrno) {
    auto queue = UringQueue::create(4);
    if (!queue) GTEST_SKIP() << "io_uring unavailable: " << queue.error().message;
    std::vector<std::byte> buffer(512);
    ASSERT_TRUE(queue->queue_read(-1, buffer, 0, 1));
    ASSERT_TRUE(queue->submit());
    auto done = queue->wait();
    ASSERT_TRUE(done);
    EXPECT_EQ(done->result, -EBADF);
    EXPECT_FALSE(queue->wait());  // nothing in flight
}

TEST(UringQueue, FullSubmissionQueueIsAnError) {
    auto queue = UringQueue::create(2);
    if (!queue) GTEST_SKIP() << "io_uring unavailable: " << queue.error().message;
    testing::TempDir dir;
    Fd fd(::open(dir.file("data").c_str(), O_RDWR | O_CREAT, 0600));
    int queued = 0;
    while (queue->queue_fsync(fd.get(), true, static_cast<std::uint64_t>(queued)))
        ++queued;
    EXPECT_GE(queued, 2);
    ASSERT_TRUE(queue->submit());
    for (int i = 0; i < queued; ++i)
        ASSERT_TRUE(queue->wait());
}

// io_uring_submit may fail with EAGAIN (the kernel is short of memory for requests) and
// submit nothing: submit() tries again rather than leave the operation queued with no
// completion or doorbell to come that would submit it later.
TEST(UringQueue, SubmitRetriesEagain) {
    auto queue = UringQueue::create(8);
    if (!queue) GTEST_SKIP() << "io_uring unavailable: " << queue.error().message;
    testing::TempDir dir;
    Fd fd(::open(dir.file("data").c_str(), O_RDWR | O_CREAT, 0600));
    ASSERT_TRUE(fd);
    auto data = testing::pattern(0, 4096, 4);
    struct Faults {
        Faults() { domus_faults_configure("submit_eagain:0.5,seed=3"); }
        ~Faults() { domus_faults_configure(nullptr); }
    } faults;
    for (std::uint64_t tag = 0; tag < 50; ++tag) {
        ASSERT_TRUE(queue->queue_write(fd.get(), data, tag * 4096, tag));
        auto submitted = queue->submit();
        ASSERT_TRUE(submitted) << submitted.error().message;
        EXPECT_EQ(*submitted, 1u);
        auto done = queue->wait();
        ASSERT_TRUE(done);
        EXPECT_EQ(done->tag, tag);
        EXPECT_EQ(done->result, 4096);
    }
    EXPECT_GT(domus_faults_count(DOMUS_FAULT_SUBMIT_EAGAIN), 0u);
}

}  // namespace
}  // namespace domus::storage
