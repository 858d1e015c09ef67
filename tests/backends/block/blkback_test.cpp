// BlkBack against a frontend simulated in the test (a ring page in memory, grants that
// are pages of a test buffer) over a real image file, with the same expectations for
// each engine: raw inline (page-cache hits answered in the pass), raw through io_uring
// only (many requests in flight), O_DIRECT, and qcow2 the same two ways through its host
// extents, also as an empty overlay (reads from the backing file's extents, every first
// write allocating through the image).
#include "backends/block/blkback.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include "fake_data_path_host.hpp"
#include "fault_inject.h"
#include "storage/image_create.hpp"

namespace domus::backends {
namespace {

constexpr std::size_t kPages = 1200;              // grant refs 0..1199 are valid
constexpr std::uint64_t kDiskBytes = 4ull << 20;  // 8192 sectors
constexpr grant_ref_t kBadGref = 100000;

// Grants are pages of one buffer (fake_data_path_host.hpp).
class FakeHost final : public fakes::FakeDataPathHost {
public:
    FakeHost() : FakeDataPathHost(kPages) {}
};

// The frontend's end of the ring.
struct Frontend {
    alignas(4096) std::byte bytes[4096]{};
    RING_IDX rsp_cons = 0;
    std::map<std::uint64_t, blkif_response> responses;

    Frontend() { header().rsp_event = 1; }
    ring_sring_header& header() { return *reinterpret_cast<ring_sring_header*>(bytes); }
    blkif_sring_entry* entries() { return reinterpret_cast<blkif_sring_entry*>(bytes + 64); }
    std::span<std::byte> area() { return {bytes, sizeof(bytes)}; }

    void push(const blkif_request& request) {
        std::memcpy(&entries()[header().req_prod & 31].req, &request, sizeof(request));
        std::atomic_ref<RING_IDX>(header().req_prod).fetch_add(1, std::memory_order_release);
    }
    void collect() {
        RING_IDX prod =
            std::atomic_ref<RING_IDX>(header().rsp_prod).load(std::memory_order_acquire);
        for (; rsp_cons != prod; ++rsp_cons) {
            blkif_response response = entries()[rsp_cons & 31].rsp;
            EXPECT_EQ(responses.count(response.id), 0u) << "two responses for id " << response.id;
            responses[response.id] = response;
        }
        header().rsp_event = rsp_cons + 1;  // notify me on the next response
    }
};

blkif_request rw(std::uint8_t op, std::uint64_t id, std::uint64_t sector) {
    blkif_request request{};
    request.operation = op;
    request.id = id;
    request.sector_number = sector;
    return request;
}

void add_segment(blkif_request& request, grant_ref_t gref, std::uint8_t first = 0,
                 std::uint8_t last = 7) {
    request.seg[request.nr_segments++] = {gref, first, last, {}};
}

std::vector<std::byte> random_bytes(std::size_t n, std::mt19937& rng) {
    std::vector<std::byte> out(n);
    for (auto& b : out)
        b = std::byte(rng());
    return out;
}

struct Engine {
    storage::Format format;
    bool inline_io;  // raw: try preadv2/pwritev2(RWF_NOWAIT) before io_uring
    const char* name;
    bool direct = false;   // raw with O_DIRECT: io_uring only, unaligned pages bounced
    bool overlay = false;  // qcow2: an empty overlay over a qcow2 image holding the data
};

class BlkBackTest : public testing::TestWithParam<Engine> {
protected:
    void SetUp() override {
        char pattern[] = "/tmp/blkback_test.XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir_ = pattern;
        path_ = dir_ + "/disk";
        std::string data_path = GetParam().overlay ? dir_ + "/base" : path_;
        ASSERT_TRUE(storage::create_image(data_path, kDiskBytes, GetParam().format));
        auto image = storage::open_image(data_path, GetParam().format, false, GetParam().direct);
        if (!image && GetParam().direct) GTEST_SKIP() << image.error().message;
        ASSERT_TRUE(image) << image.error().message;
        image_ = std::move(image).value();
        // A known pattern on the whole disk.
        std::mt19937 rng(7);
        disk_ = random_bytes(kDiskBytes, rng);
        ASSERT_TRUE(image_->write(0, disk_));
        if (GetParam().overlay) {
            image_.reset();
            ASSERT_TRUE(storage::create_image(path_, std::nullopt, storage::Format::qcow2,
                                              data_path, storage::kDefaultClusterSize,
                                              storage::Format::qcow2));
            auto overlay = storage::open_image(path_, storage::Format::qcow2, false);
            ASSERT_TRUE(overlay) << overlay.error().message;
            image_ = std::move(overlay).value();
        }
        back_ = std::make_unique<BlkBack>(host_, *image_, front_.area(),
                                          DiskLimits{kDiskBytes / 512, false, true, 256});
        EXPECT_TRUE(back_->asynchronous());
        // No poll: a pass returns at once, so what is in flight after process() is seen.
        back_->set_tuning({GetParam().inline_io, 0});
    }
    // Everything goes through io_uring: requests stay in flight until reaped.
    bool all_queued() const { return back_->asynchronous() && !GetParam().inline_io; }
    void TearDown() override {
        back_.reset();
        EXPECT_EQ(host_.live, 0) << "grant mappings left behind";
        image_.reset();
        std::filesystem::remove_all(dir_);
    }

    // Lets the backend run (as the device thread would) until `count` responses arrived;
    // with `refill`, the frontend pushes more between passes, as answers free ring slots.
    void run_until(std::size_t count, const std::function<void()>& refill = {}) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        front_.collect();
        while (front_.responses.size() < count && std::chrono::steady_clock::now() < deadline) {
            if (int fd = back_->completion_fd(); fd >= 0) {
                pollfd p{fd, POLLIN, 0};
                ::poll(&p, 1, 100);
            }
            ASSERT_TRUE(back_->complete());
            front_.collect();
            if (refill) {
                refill();
                ASSERT_TRUE(back_->process());
            }
        }
        ASSERT_EQ(front_.responses.size(), count);
    }

    std::vector<std::byte> disk(std::uint64_t offset, std::size_t length) {
        std::vector<std::byte> out(length);
        EXPECT_TRUE(image_->read(offset, out));
        return out;
    }

    std::string dir_, path_;
    std::unique_ptr<storage::BlockImage> image_;
    std::vector<std::byte> disk_;  // what the disk holds, as the test wrote it
    FakeHost host_;
    Frontend front_;
    std::unique_ptr<BlkBack> back_;
};

// A rate limit (bytes and requests a second) holds requests, taken off the ring but not
// started, until the buckets have room; they go in ring order and none fails.
TEST_P(BlkBackTest, ARateLimitHoldsRequestsUntilTheirTokensComeAndFailsNone) {
    using namespace std::chrono_literals;
    RateClock::time_point now{};
    back_->set_clock([&] { return now; });
    back_->set_limit(RateLimiter(TokenBucket(8192, 1s, now), TokenBucket(10, 1s, now)));
    for (std::uint64_t i = 0; i < 4; ++i) {
        blkif_request request = rw(BLKIF_OP_READ, i, i * 8);
        add_segment(request, grant_ref_t(i));  // 4 KiB each
        front_.push(request);
    }
    ASSERT_TRUE(back_->process());
    run_until(2);  // two fit the bucket
    ASSERT_TRUE(back_->held_for(now));
    EXPECT_EQ(*back_->held_for(now), 500ms);  // 4096 bytes at 8192 a second
    ASSERT_TRUE(back_->process());            // a doorbell before then changes nothing
    front_.collect();
    EXPECT_EQ(front_.responses.size(), 2u);
    now += 500ms;
    ASSERT_TRUE(back_->process());
    run_until(3);
    now += 500ms;
    ASSERT_TRUE(back_->process());
    run_until(4);
    EXPECT_FALSE(back_->held_for(now));
    for (std::uint64_t i = 0; i < 4; ++i) {
        EXPECT_EQ(front_.responses[i].status, BLKIF_RSP_OKAY) << i;
        EXPECT_EQ(std::memcmp(host_.page(grant_ref_t(i)).data(), disk_.data() + i * 4096, 4096), 0)
            << i;
    }
    EXPECT_EQ(back_->stats().rate_held, 2u);
}

TEST_P(BlkBackTest, ThirtyTwoRequestsInFlight) {
    struct Expected {
        bool write;
        std::uint64_t offset;
        std::vector<std::byte> data;  // what a write moved, in disk order
    };
    std::map<std::uint64_t, Expected> expected;
    std::mt19937 rng(42);
    for (std::uint32_t i = 0; i < 32; ++i) {
        bool write = i % 2;
        std::uint64_t id = 0x1000 + i * 7;
        std::uint64_t sector = i * 128;  // disjoint ranges (at most 88 sectors each)
        blkif_request request = rw(write ? BLKIF_OP_WRITE : BLKIF_OP_READ, id, sector);
        Expected e{write, sector * 512, {}};
        int segments = 1 + i % 11;
        for (int s = 0; s < segments; ++s) {
            // Various layouts: whole pages, page tails, heads and middles.
            std::uint8_t first = std::uint8_t((i + s) % 3 == 0 ? 0 : (i + s) % 4);
            std::uint8_t last = std::uint8_t(std::max<int>(first, 7 - (i * s) % 3));
            grant_ref_t gref = i * 11 + s;
            add_segment(request, gref, first, last);
            auto bytes = host_.page(gref).subspan(first * 512, (last - first + 1) * 512);
            if (write) {
                auto data = random_bytes(bytes.size(), rng);
                std::memcpy(bytes.data(), data.data(), data.size());
                e.data.insert(e.data.end(), data.begin(), data.end());
            } else {
                std::memset(bytes.data(), 0xEE, bytes.size());
            }
        }
        expected[id] = std::move(e);
        front_.push(request);
    }
    ASSERT_TRUE(back_->process());
    if (all_queued()) {
        EXPECT_EQ(back_->requests_started(), 32u);  // nothing reaped yet: all 32 in flight
    }
    run_until(32);
    if (!GetParam().direct) {
        EXPECT_EQ(back_->stats().max_in_flight, all_queued() ? 32u : 1u);
    }
    if (back_->asynchronous()) {
        // Each request's data moved in one transfer straight into its pages: inline
        // (the page cache holds the disk), or one readv/writev each; with O_DIRECT, the
        // requests with a segment at a sector offset in its page through the bounce.
        const BlkStats& stats = back_->stats();
        EXPECT_EQ(stats.inline_transfers + stats.queued_transfers + stats.unaligned_transfers +
                      stats.image_transfers,
                  32u);
        if (GetParam().direct) {
            EXPECT_EQ(stats.inline_transfers, 0u);
            EXPECT_GT(stats.unaligned_transfers, 0u);
        } else if (GetParam().inline_io) {
            EXPECT_GT(stats.inline_transfers, 0u);
        } else {
            EXPECT_EQ(stats.inline_transfers, 0u);
        }
    }
    EXPECT_GE(host_.notifications, 1);

    // Every answer, with the right id and operation; then the data, page by page.
    for (std::uint32_t i = 0; i < 32; ++i) {
        std::uint64_t id = 0x1000 + i * 7;
        const blkif_response& response = front_.responses.at(id);
        auto& e = expected.at(id);
        EXPECT_EQ(response.status, BLKIF_RSP_OKAY) << "id " << id;
        EXPECT_EQ(response.operation, e.write ? BLKIF_OP_WRITE : BLKIF_OP_READ);
        // Reassemble what the pages hold, in segment order.
        std::vector<std::byte> pages;
        int segments = 1 + i % 11;
        for (int s = 0; s < segments; ++s) {
            std::uint8_t first = std::uint8_t((i + s) % 3 == 0 ? 0 : (i + s) % 4);
            std::uint8_t last = std::uint8_t(std::max<int>(first, 7 - (i * s) % 3));
            auto bytes = host_.page(i * 11 + s).subspan(first * 512, (last - first + 1) * 512);
            pages.insert(pages.end(), bytes.begin(), bytes.end());
        }
        if (e.write) {
            EXPECT_EQ(pages, e.data);
            EXPECT_TRUE(disk(e.offset, pages.size()) == pages) << "write id " << id;
        } else {
            std::vector<std::byte> want(disk_.begin() + std::ptrdiff_t(e.offset),
                                        disk_.begin() + std::ptrdiff_t(e.offset + pages.size()));
            EXPECT_TRUE(pages == want) << "read id " << id;
        }
    }
    EXPECT_EQ(back_->stats().requests, 32u);
    EXPECT_EQ(back_->stats().bad_requests, 0u);
    // xentop's VBD_RD/VBD_WR: 16 of each, whichever engine moved them.
    EXPECT_EQ(back_->stats().reads, 16u);
    EXPECT_EQ(back_->stats().writes, 16u);
}

TEST_P(BlkBackTest, RawFileHoldsWhatWasWritten) {
    if (GetParam().format != storage::Format::raw)
        GTEST_SKIP() << "raw only: compares the file itself";
    std::mt19937 rng(3);
    auto data = random_bytes(3 * 4096, rng);
    blkif_request request = rw(BLKIF_OP_WRITE, 9, 1000);
    for (grant_ref_t g = 0; g < 3; ++g) {
        std::memcpy(host_.page(g).data(), data.data() + g * 4096, 4096);
        add_segment(request, g);
    }
    front_.push(request);
    ASSERT_TRUE(back_->process());
    run_until(1);
    std::vector<std::byte> file(data.size());
    FILE* f = std::fopen(path_.c_str(), "rb");
    ASSERT_NE(f, nullptr);
    std::fseek(f, 1000 * 512, SEEK_SET);
    ASSERT_EQ(std::fread(file.data(), 1, file.size(), f), file.size());
    std::fclose(f);
    EXPECT_TRUE(file == data);
}

TEST_P(BlkBackTest, DirectWholePagesGoStraightThroughIoUring) {
    if (!GetParam().direct) GTEST_SKIP() << "O_DIRECT engine only";
    // Four writes of two whole pages each, then the same sectors read into other pages.
    std::mt19937 rng(11);
    auto data = random_bytes(8 * 4096, rng);
    for (std::uint32_t i = 0; i < 4; ++i) {
        blkif_request request = rw(BLKIF_OP_WRITE, 100 + i, 64 + i * 16);
        for (grant_ref_t g = 2 * i; g < 2 * i + 2; ++g) {
            std::memcpy(host_.page(g).data(), data.data() + g * 4096, 4096);
            add_segment(request, g);
        }
        front_.push(request);
    }
    ASSERT_TRUE(back_->process());
    run_until(4);
    for (std::uint32_t i = 0; i < 4; ++i) {
        blkif_request request = rw(BLKIF_OP_READ, 200 + i, 64 + i * 16);
        for (grant_ref_t g = 100 + 2 * i; g < 100 + 2 * i + 2; ++g) {
            std::memset(host_.page(g).data(), 0xEE, 4096);
            add_segment(request, g);
        }
        front_.push(request);
    }
    ASSERT_TRUE(back_->process());
    run_until(8);
    for (const auto& [id, response] : front_.responses)
        EXPECT_EQ(response.status, BLKIF_RSP_OKAY) << id;
    for (grant_ref_t g = 0; g < 8; ++g)
        EXPECT_EQ(std::memcmp(host_.page(100 + g).data(), data.data() + g * 4096, 4096), 0) << g;
    EXPECT_EQ(back_->stats().queued_transfers, 8u);
    EXPECT_EQ(back_->stats().unaligned_transfers, 0u);
    EXPECT_EQ(back_->stats().inline_transfers, 0u);
}

TEST_P(BlkBackTest, WriteAfterFlushWaitsForIt) {
    std::memset(host_.page(0).data(), 0xAA, 4096);
    std::memset(host_.page(1).data(), 0xBB, 4096);
    blkif_request first = rw(BLKIF_OP_WRITE, 1, 64);
    add_segment(first, 0);
    blkif_request flush = rw(BLKIF_OP_FLUSH_DISKCACHE, 2, 0);
    blkif_request barrier = rw(BLKIF_OP_WRITE_BARRIER, 3, 64);  // flush, then write
    add_segment(barrier, 1);
    blkif_request read = rw(BLKIF_OP_READ, 4, 64);
    add_segment(read, 2);
    for (auto& r : {first, flush, barrier, read})
        front_.push(r);
    ASSERT_TRUE(back_->process());
    if (all_queued() || GetParam().direct) {  // O_DIRECT: whole pages, all through io_uring
        // Nothing was reaped yet: the first write runs, the flush waits for it, and
        // everything after the flush waits for the flush.
        EXPECT_EQ(back_->requests_started(), 1u);
        EXPECT_EQ(back_->requests_waiting(), 3u);
    } else if (GetParam().format == storage::Format::raw) {
        // The first write was done inline; the flush runs and the rest waits for it.
        EXPECT_EQ(back_->requests_started(), 1u);
        EXPECT_EQ(back_->requests_waiting(), 2u);
    } else {
        // qcow2 flushes inline (its metadata goes out in order): all done in the pass.
        EXPECT_TRUE(back_->idle());
    }
    run_until(4);
    for (std::uint64_t id = 1; id <= 4; ++id)
        EXPECT_EQ(front_.responses.at(id).status, BLKIF_RSP_OKAY);
    EXPECT_EQ(front_.responses.at(2).operation, BLKIF_OP_FLUSH_DISKCACHE);
    EXPECT_EQ(front_.responses.at(3).operation, BLKIF_OP_WRITE_BARRIER);
    std::vector<std::byte> want(4096, std::byte(0xBB));
    EXPECT_TRUE(disk(64 * 512, 4096) == want);
    EXPECT_TRUE(std::equal(want.begin(), want.end(), host_.page(2).begin()));
}

TEST_P(BlkBackTest, BadGrefFailsOnlyItsRequest) {
    blkif_request a = rw(BLKIF_OP_READ, 10, 0);
    add_segment(a, 0);
    blkif_request b = rw(BLKIF_OP_WRITE, 11, 8);
    add_segment(b, 1);
    add_segment(b, kBadGref);
    add_segment(b, 2);
    blkif_request c = rw(BLKIF_OP_READ, 12, 16);
    add_segment(c, 3);
    add_segment(c, 4);
    for (auto& r : {a, b, c})
        front_.push(r);
    ASSERT_TRUE(back_->process());
    run_until(3);
    EXPECT_EQ(front_.responses.at(10).status, BLKIF_RSP_OKAY);
    EXPECT_EQ(front_.responses.at(11).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(front_.responses.at(12).status, BLKIF_RSP_OKAY);
    EXPECT_EQ(back_->stats().bad_requests, 1u);
    EXPECT_TRUE(
        disk(8 * 512, 3 * 4096) ==
        std::vector<std::byte>(disk_.begin() + 8 * 512, disk_.begin() + 8 * 512 + 3 * 4096));
    EXPECT_TRUE(
        std::equal(host_.page(4).begin(), host_.page(4).end(), disk_.begin() + 16 * 512 + 4096));
    EXPECT_EQ(host_.live, 0);
}

TEST_P(BlkBackTest, IndirectRequestOfFortySegments) {
    std::mt19937 rng(5);
    auto data = random_bytes(40 * 4096, rng);
    auto* list = reinterpret_cast<blkif_request_segment*>(host_.page(500).data());
    for (grant_ref_t g = 0; g < 40; ++g) {
        list[g] = {100 + g, 0, 7, {}};
        std::memcpy(host_.page(100 + g).data(), data.data() + g * 4096, 4096);
    }
    blkif_request_indirect indirect{};
    indirect.operation = BLKIF_OP_INDIRECT;
    indirect.indirect_op = BLKIF_OP_WRITE;
    indirect.nr_segments = 40;
    indirect.id = 77;
    indirect.sector_number = 2048;
    indirect.indirect_grefs[0] = 500;
    blkif_request raw;
    std::memcpy(&raw, &indirect, sizeof(raw));
    front_.push(raw);
    ASSERT_TRUE(back_->process());
    run_until(1);
    EXPECT_EQ(front_.responses.at(77).status, BLKIF_RSP_OKAY);
    EXPECT_TRUE(disk(2048 * 512, data.size()) == data);
}

TEST_P(BlkBackTest, DiscardReadsBackZeros) {
    blkif_request_discard discard{};
    discard.operation = BLKIF_OP_DISCARD;
    discard.id = 5;
    discard.sector_number = 128;
    discard.nr_sectors = 128;
    blkif_request raw;
    std::memcpy(&raw, &discard, sizeof(raw));
    blkif_request read = rw(BLKIF_OP_READ, 6, 128);
    add_segment(read, 0);
    std::memset(host_.page(0).data(), 0xEE, 4096);
    front_.push(raw);
    front_.push(read);
    ASSERT_TRUE(back_->process());
    run_until(2);
    EXPECT_EQ(front_.responses.at(5).status, BLKIF_RSP_OKAY);
    EXPECT_EQ(front_.responses.at(6).status, BLKIF_RSP_OKAY);
    EXPECT_TRUE(std::all_of(host_.page(0).begin(), host_.page(0).end(),
                            [](std::byte b) { return b == std::byte(0); }));
}

TEST_P(BlkBackTest, MoreRequestsThanTheRingRoundsAreAllServed) {
    // 100 single-sector reads through a 32-slot ring: the frontend refills as answers come.
    std::uint64_t next = 0;
    auto refill = [&] {
        while (next < 100 && front_.header().req_prod - front_.rsp_cons < 32) {
            blkif_request r = rw(BLKIF_OP_READ, next, next * 8);
            add_segment(r, grant_ref_t(next), 0, 0);
            front_.push(r);
            ++next;
        }
    };
    refill();
    ASSERT_TRUE(back_->process());
    run_until(100, refill);
    for (std::uint64_t id = 0; id < 100; ++id) {
        EXPECT_EQ(front_.responses.at(id).status, BLKIF_RSP_OKAY);
        EXPECT_TRUE(std::equal(host_.page(grant_ref_t(id)).begin(),
                               host_.page(grant_ref_t(id)).begin() + 512,
                               disk_.begin() + std::ptrdiff_t(id * 8 * 512)));
    }
}

TEST_P(BlkBackTest, HostileRingIndexStopsTheDeviceAfterItsIo) {
    blkif_request a = rw(BLKIF_OP_READ, 1, 0);
    for (grant_ref_t g = 0; g < 11; ++g)
        add_segment(a, g);
    front_.push(a);
    ASSERT_TRUE(back_->process());
    // The frontend claims 40 more requests than the ring holds.
    front_.header().req_prod += 40;
    EXPECT_FALSE(back_->process());
    EXPECT_FALSE(back_->complete());
    // Destruction waits for the read still in flight, then releases its pages.
    back_.reset();
    EXPECT_EQ(host_.live, 0);
}

// The frontend's next request, pushed while the backend still looks at the ring after a
// busy pass, is taken without a doorbell: process() finds it before arming req_event.
TEST_P(BlkBackTest, PollAfterABusyPassTakesTheNextRequest) {
    if (!back_->asynchronous()) GTEST_SKIP() << "the synchronous engine does not poll";
    back_->set_tuning({GetParam().inline_io, 2'000'000'000});  // poll up to 2 s
    blkif_request first = rw(BLKIF_OP_READ, 1, 0);
    add_segment(first, 0);
    blkif_request second = rw(BLKIF_OP_READ, 2, 8);
    add_segment(second, 1, 1, 6);
    front_.push(first);
    std::thread late([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        front_.push(second);
    });
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(back_->process());
    late.join();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
    EXPECT_EQ(back_->stats().polled_requests, 1u);
    EXPECT_EQ(back_->stats().passes, 1u);
    back_->set_tuning({GetParam().inline_io, 0});
    run_until(2);
    EXPECT_EQ(front_.responses.at(2).status, BLKIF_RSP_OKAY);
    EXPECT_TRUE(std::equal(host_.page(1).begin() + 512, host_.page(1).begin() + 7 * 512,
                           disk_.begin() + 8 * 512));
}

// Persistent grants: a pool of pages the frontend uses for every request.
TEST_P(BlkBackTest, PersistentGrantsAreMappedOnceAndKeptUntilTheEnd) {
    back_->use_persistent_grants();
    std::mt19937 rng(11);
    // Round 1 writes 8 pages from grants 0..7; round 2 reads them back into the same grants.
    auto data = random_bytes(8 * 4096, rng);
    for (grant_ref_t g = 0; g < 8; ++g)
        std::memcpy(host_.page(g).data(), data.data() + g * 4096, 4096);
    blkif_request write = rw(BLKIF_OP_WRITE, 1, 256);
    for (grant_ref_t g = 0; g < 8; ++g)
        add_segment(write, g);
    front_.push(write);
    ASSERT_TRUE(back_->process());
    run_until(1);
    EXPECT_EQ(front_.responses.at(1).status, BLKIF_RSP_OKAY);
    EXPECT_TRUE(disk(256 * 512, data.size()) == data);
    EXPECT_EQ(host_.maps, 8);
    EXPECT_EQ(host_.writable_maps, 0);  // a write only reads the frontend's pages
    EXPECT_EQ(host_.live, 8);           // kept after the answer
    EXPECT_EQ(back_->persistent_grants(), 8u);

    for (grant_ref_t g = 0; g < 8; ++g)
        std::memset(host_.page(g).data(), 0, 4096);
    blkif_request read = rw(BLKIF_OP_READ, 2, 256);
    for (grant_ref_t g = 0; g < 8; ++g)
        add_segment(read, g);
    front_.push(read);
    ASSERT_TRUE(back_->process());
    run_until(2);
    EXPECT_EQ(front_.responses.at(2).status, BLKIF_RSP_OKAY);
    for (grant_ref_t g = 0; g < 8; ++g)
        EXPECT_TRUE(std::equal(host_.page(g).begin(), host_.page(g).end(),
                               data.begin() + std::ptrdiff_t(g) * 4096));
    // Needed writable now: mapped again so, once; the read-only mappings went.
    EXPECT_EQ(host_.writable_maps, 8);
    EXPECT_EQ(host_.live, 8);

    blkif_request again = rw(BLKIF_OP_READ, 3, 256);
    for (grant_ref_t g = 0; g < 8; ++g)
        add_segment(again, g);
    front_.push(again);
    ASSERT_TRUE(back_->process());
    run_until(3);
    EXPECT_EQ(host_.maps, 16);  // nothing new: both uses found their mappings
    // TearDown checks that destroying the BlkBack releases them all.
}

TEST_P(BlkBackTest, PersistentGrantsPastTheTableAreMappedPerRequest) {
    back_->use_persistent_grants();
    // 1100 distinct grants in single-page reads: the first kMaxGrants stay mapped, the
    // rest are mapped for their request only, and every read is served.
    constexpr std::uint64_t kReads = 1100;
    static_assert(kReads > PersistentGrants::kMaxGrants && kReads <= kPages);
    std::uint64_t next = 0;
    auto refill = [&] {
        while (next < kReads && front_.header().req_prod - front_.rsp_cons < 32) {
            blkif_request r = rw(BLKIF_OP_READ, next, (next * 8) % (kDiskBytes / 512));
            add_segment(r, grant_ref_t(next));
            front_.push(r);
            ++next;
        }
    };
    refill();
    ASSERT_TRUE(back_->process());
    run_until(kReads, refill);
    for (std::uint64_t id = 0; id < kReads; ++id) {
        ASSERT_EQ(front_.responses.at(id).status, BLKIF_RSP_OKAY) << id;
        std::uint64_t offset = ((id * 8) % (kDiskBytes / 512)) * 512;
        EXPECT_TRUE(std::equal(host_.page(grant_ref_t(id)).begin(),
                               host_.page(grant_ref_t(id)).end(),
                               disk_.begin() + std::ptrdiff_t(offset)))
            << id;
    }
    EXPECT_EQ(back_->persistent_grants(), PersistentGrants::kMaxGrants);
    EXPECT_EQ(host_.live, int(PersistentGrants::kMaxGrants));
}

TEST_P(BlkBackTest, PersistentGrantsStillRefuseABadGref) {
    back_->use_persistent_grants();
    blkif_request good = rw(BLKIF_OP_READ, 1, 0);
    add_segment(good, 0);
    blkif_request bad = rw(BLKIF_OP_READ, 2, 8);
    add_segment(bad, 1);
    add_segment(bad, kBadGref);
    front_.push(good);
    front_.push(bad);
    ASSERT_TRUE(back_->process());
    run_until(2);
    EXPECT_EQ(front_.responses.at(1).status, BLKIF_RSP_OKAY);
    EXPECT_EQ(front_.responses.at(2).status, BLKIF_RSP_ERROR);
    EXPECT_EQ(back_->stats().bad_requests, 1u);
}

TEST_P(BlkBackTest, PersistentIndirectPagesAreKeptToo) {
    back_->use_persistent_grants();
    std::mt19937 rng(6);
    auto data = random_bytes(40 * 4096, rng);
    auto* list = reinterpret_cast<blkif_request_segment*>(host_.page(1000).data());
    for (grant_ref_t g = 0; g < 40; ++g) {
        list[g] = {100 + g, 0, 7, {}};
        std::memcpy(host_.page(100 + g).data(), data.data() + g * 4096, 4096);
    }
    for (std::uint64_t id : {1, 2}) {
        blkif_request_indirect indirect{};
        indirect.operation = BLKIF_OP_INDIRECT;
        indirect.indirect_op = BLKIF_OP_WRITE;
        indirect.nr_segments = 40;
        indirect.id = id;
        indirect.sector_number = 1024 * id;
        indirect.indirect_grefs[0] = 1000;
        blkif_request raw;
        std::memcpy(&raw, &indirect, sizeof(raw));
        front_.push(raw);
        ASSERT_TRUE(back_->process());
        run_until(std::size_t(id));
        EXPECT_EQ(front_.responses.at(id).status, BLKIF_RSP_OKAY);
        EXPECT_TRUE(disk(1024 * id * 512, data.size()) == data);
    }
    EXPECT_EQ(host_.maps, 41);  // the list page and 40 data pages, each once
    EXPECT_EQ(back_->persistent_grants(), 41u);
}

// An empty overlay: reads come from the backing file's extents; the first write of a
// cluster allocates it through the image, later ones go straight into it.
TEST_P(BlkBackTest, OverlayAllocatesOnceThenWritesInPlace) {
    if (!GetParam().overlay) GTEST_SKIP() << "overlay engine only";
    std::memset(host_.page(0).data(), 0x5A, 4096);
    std::memset(host_.page(1).data(), 0xA5, 4096);
    blkif_request first = rw(BLKIF_OP_WRITE, 1, 256);
    add_segment(first, 0);
    front_.push(first);
    ASSERT_TRUE(back_->process());
    run_until(1);
    EXPECT_EQ(back_->stats().image_transfers, 1u);
    blkif_request second = rw(BLKIF_OP_WRITE, 2, 256);
    add_segment(second, 1);
    front_.push(second);
    ASSERT_TRUE(back_->process());
    run_until(2);
    EXPECT_EQ(back_->stats().image_transfers, 1u);  // the cluster is the overlay's now
    // Read back the written page and the backing file's page after the cluster.
    blkif_request read = rw(BLKIF_OP_READ, 3, 256);
    add_segment(read, 2);
    blkif_request below = rw(BLKIF_OP_READ, 4, 256 + 128);  // the next 64 KiB cluster
    add_segment(below, 3);
    front_.push(read);
    front_.push(below);
    ASSERT_TRUE(back_->process());
    run_until(4);
    for (std::uint64_t id = 1; id <= 4; ++id)
        EXPECT_EQ(front_.responses.at(id).status, BLKIF_RSP_OKAY);
    EXPECT_EQ(back_->stats().image_transfers, 1u);
    std::vector<std::byte> want(4096, std::byte(0xA5));
    EXPECT_TRUE(std::equal(want.begin(), want.end(), host_.page(2).begin()));
    EXPECT_TRUE(std::equal(disk_.begin() + (256 + 128) * 512,
                           disk_.begin() + (256 + 128) * 512 + 4096, host_.page(3).begin()));
    EXPECT_TRUE(disk(256 * 512, 4096) == want);
}

// Every transfer stops short at a random byte, inline and (at an iovec boundary) in
// io_uring too: the rest, from inside a sector, must still be moved and answered OKAY.
TEST_P(BlkBackTest, ShortTransfersEndingMidSectorAreFinished) {
    struct Faults {
        Faults() { domus_faults_configure("short:1,uring_short:1,seed=2"); }
        ~Faults() { domus_faults_configure(nullptr); }
    };
    std::mt19937 rng(8);
    auto data = random_bytes(4 * 4096, rng);
    {
        Faults faults;
        blkif_request write = rw(BLKIF_OP_WRITE, 1, 64);
        blkif_request read = rw(BLKIF_OP_READ, 2, 64);
        for (grant_ref_t g = 0; g < 4; ++g) {
            std::memcpy(host_.page(g).data(), data.data() + g * 4096, 4096);
            add_segment(write, g);
            add_segment(read, 10 + g);
        }
        front_.push(write);
        ASSERT_TRUE(back_->process());
        run_until(1);
        front_.push(read);
        ASSERT_TRUE(back_->process());
        run_until(2);
        EXPECT_GT(
            domus_faults_count(DOMUS_FAULT_SHORT) + domus_faults_count(DOMUS_FAULT_URING_SHORT),
            0u);
    }
    EXPECT_EQ(front_.responses.at(1).status, BLKIF_RSP_OKAY);
    EXPECT_EQ(front_.responses.at(2).status, BLKIF_RSP_OKAY);
    for (grant_ref_t g = 0; g < 4; ++g)
        EXPECT_TRUE(std::equal(host_.page(10 + g).begin(), host_.page(10 + g).end(),
                               data.begin() + g * 4096))
            << "page " << g;
    EXPECT_TRUE(disk(64 * 512, data.size()) == data);
}

// The kernel may cut a transfer short, fail it with EAGAIN or EINTR (inline or in an
// io_uring completion), or refuse a submit with EAGAIN (the fault-injection shim does all
// of these): none of it may reach the frontend as an error, nor as wrong data.
TEST_P(BlkBackTest, KernelFaultsNeverReachTheFrontend) {
    struct Faults {
        Faults() {
            domus_faults_configure(
                "short:0.3,eagain:0.2,eintr:0.2,uring_short:0.5,uring_eagain:0.2,"
                "uring_eintr:0.2,submit_eagain:0.2,seed=9");
        }
        ~Faults() { domus_faults_configure(nullptr); }
    };
    std::mt19937 rng(5);
    std::map<std::uint64_t, std::vector<std::byte>> written;  // by first sector
    std::uint64_t id = 100;
    {
        Faults faults;
        for (int round = 0; round < 4; ++round) {
            // Twelve writes of four whole pages, a barrier write, a flush.
            std::size_t before = front_.responses.size();
            for (int i = 0; i < 14; ++i) {
                std::uint8_t op = i == 12   ? BLKIF_OP_WRITE_BARRIER
                                  : i == 13 ? BLKIF_OP_FLUSH_DISKCACHE
                                            : BLKIF_OP_WRITE;
                std::uint64_t sector = std::uint64_t(round * 14 + i) * 32;
                blkif_request r = rw(op, id++, sector);
                if (op != BLKIF_OP_FLUSH_DISKCACHE) {
                    std::vector<std::byte> data;
                    for (int s = 0; s < 4; ++s) {
                        grant_ref_t g = grant_ref_t(i * 4 + s);
                        auto bytes = random_bytes(4096, rng);
                        std::memcpy(host_.page(g).data(), bytes.data(), bytes.size());
                        data.insert(data.end(), bytes.begin(), bytes.end());
                        add_segment(r, g);
                    }
                    written[sector] = std::move(data);
                }
                front_.push(r);
            }
            ASSERT_TRUE(back_->process());
            run_until(before + 14);
        }
        // Each written range read back through the backend, into fresh pages.
        for (const auto& [sector, data] : written) {
            std::size_t before = front_.responses.size();
            blkif_request r = rw(BLKIF_OP_READ, id++, sector);
            for (grant_ref_t g = 0; g < 4; ++g) {
                std::memset(host_.page(100 + g).data(), 0xEE, 4096);
                add_segment(r, 100 + g);
            }
            front_.push(r);
            ASSERT_TRUE(back_->process());
            run_until(before + 1);
            for (grant_ref_t g = 0; g < 4; ++g)
                EXPECT_TRUE(std::equal(host_.page(100 + g).begin(), host_.page(100 + g).end(),
                                       data.begin() + g * 4096))
                    << "sector " << sector << " page " << g;
        }
    }
    for (const auto& [rid, response] : front_.responses)
        EXPECT_EQ(response.status, BLKIF_RSP_OKAY) << "request " << rid;
    for (const auto& [sector, data] : written)
        EXPECT_TRUE(disk(sector * 512, data.size()) == data) << "sector " << sector;
}

INSTANTIATE_TEST_SUITE_P(
    Engines, BlkBackTest,
    testing::Values(Engine{storage::Format::raw, true, "raw_inline"},
                    Engine{storage::Format::raw, false, "raw_uring"},
                    Engine{storage::Format::raw, true, "raw_direct", true},
                    Engine{storage::Format::qcow2, true, "qcow2_inline"},
                    Engine{storage::Format::qcow2, false, "qcow2_uring"},
                    Engine{storage::Format::qcow2, true, "qcow2_overlay", false, true}),
    [](const testing::TestParamInfo<Engine>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace domus::backends
