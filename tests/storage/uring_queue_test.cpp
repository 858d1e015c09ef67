// UringQueue on a temporary file: tagged writes, fsync and reads; eventfd signalling.
#include "storage/uring_queue.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <set>

#include "base/fd.hpp"
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

}  // namespace
}  // namespace domus::storage
