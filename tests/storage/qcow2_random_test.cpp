// Randomized workloads against an in-memory model: thousands of writes, reads, discards,
// flushes and reopens (fixed seeds), then our own refcount consistency check. Half the
// reads and writes are vectored (readv/writev) over pieces of random sector counts, as
// the block backend hands in a request's granted pages.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "qcow2_checker.hpp"
#include "storage/image_create.hpp"
#include "storage/qcow2_image.hpp"
#include "test_files.hpp"

namespace domus::storage {
namespace {

using testing::TempDir;

// `buffer` cut into pieces of 1..16 sectors (the last one takes the rest).
std::vector<iovec> random_pieces(std::vector<std::byte>& buffer, std::mt19937_64& rng) {
    std::vector<iovec> pieces;
    for (std::size_t at = 0; at < buffer.size();) {
        std::size_t n = std::min<std::size_t>(buffer.size() - at, (1 + rng() % 16) * 512);
        pieces.push_back({buffer.data() + at, n});
        at += n;
    }
    return pieces;
}

struct Workload {
    std::uint64_t cluster_size;
    bool with_backing;
    std::uint32_t seed;
};

class Qcow2Random : public ::testing::TestWithParam<Workload> {};

TEST_P(Qcow2Random, MatchesModel) {
    const auto [cluster_size, with_backing, seed] = GetParam();
    constexpr std::uint64_t kSize = 8 << 20;
    TempDir dir;
    auto path = dir.file("disk.qcow2");
    std::vector<std::byte> model(kSize);
    if (with_backing) {
        auto base = dir.file("base.qcow2");
        ASSERT_TRUE(create_image(base, kSize, Format::qcow2, std::nullopt, cluster_size));
        auto image = open_image(base, Format::qcow2, false);
        testing::fill_pattern(std::span(model).first(kSize / 2), 0, seed + 100);
        ASSERT_TRUE((*image)->write(0, std::span(model).first(kSize / 2)));
        ASSERT_TRUE(create_image(path, std::nullopt, Format::qcow2, std::string("base.qcow2"),
                                 cluster_size));
    } else {
        ASSERT_TRUE(create_image(path, kSize, Format::qcow2, std::nullopt, cluster_size));
    }

    std::mt19937_64 rng(seed);
    auto open = [&, cache = 4 * cluster_size] {  // clang 14 cannot capture a binding
        // A small cache so eviction paths run too.
        auto image = Qcow2Image::open(path, Qcow2Options{false, cache});
        EXPECT_TRUE(image) << image.error().message;
        return std::move(*image);
    };
    auto image = open();
    std::vector<std::byte> buffer;
    for (int op = 0; op < 3000; ++op) {
        std::uint64_t sectors = 1 + rng() % (rng() % 4 == 0 ? 512 : 16);
        std::uint64_t offset = (rng() % (kSize / 512 - sectors + 1)) * 512;
        std::uint64_t length = sectors * 512;
        buffer.resize(length);
        switch (rng() % 10) {
            case 0:
            case 1:
            case 2:
            case 3: {
                testing::fill_pattern(buffer, offset, static_cast<std::uint32_t>(op));
                if (rng() % 2)
                    ASSERT_TRUE(image->writev(offset, random_pieces(buffer, rng))) << op;
                else
                    ASSERT_TRUE(image->write(offset, buffer)) << op;
                std::copy(buffer.begin(), buffer.end(), model.begin() + static_cast<long>(offset));
                break;
            }
            case 4:
            case 5:
            case 6: {
                std::fill(buffer.begin(), buffer.end(), std::byte{0xA5});
                if (rng() % 2)
                    ASSERT_TRUE(image->readv(offset, random_pieces(buffer, rng))) << op;
                else
                    ASSERT_TRUE(image->read(offset, buffer)) << op;
                ASSERT_TRUE(std::equal(buffer.begin(), buffer.end(),
                                       model.begin() + static_cast<long>(offset)))
                    << "op " << op << " offset " << offset;
                break;
            }
            case 7: {
                ASSERT_TRUE(image->discard(offset, length)) << op;
                std::fill_n(model.begin() + static_cast<long>(offset), length, std::byte{0});
                break;
            }
            case 8:
                ASSERT_TRUE(image->flush());
                break;
            case 9:
                if (rng() % 8 == 0) {
                    image.reset();
                    image = open();
                }
                break;
        }
    }
    ASSERT_TRUE(image->flush());
    image.reset();
    auto report = testing::check_qcow2(path);
    EXPECT_TRUE(report.errors.empty()) << report.summary();
    EXPECT_EQ(report.leaks, 0u) << report.summary();
    auto check = open_image(path, Format::qcow2, true);
    buffer.resize(kSize);
    ASSERT_TRUE((*check)->read(0, buffer));
    EXPECT_TRUE(buffer == model);
}

INSTANTIATE_TEST_SUITE_P(Workloads, Qcow2Random,
                         ::testing::Values(Workload{512, false, 1}, Workload{4096, false, 2},
                                           Workload{65536, false, 3}, Workload{512, true, 4},
                                           Workload{65536, true, 5}, Workload{2u << 20, true, 6}));

}  // namespace
}  // namespace domus::storage
