// Interop with QEMU's tools: images qemu-img/qemu-io create and write open and read
// correctly in Domus; images and chains Domus writes pass `qemu-img check`, compare equal
// to raw files, and convert correctly. Skips (saying so) when qemu-img or qemu-io is missing.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "qemu_fixture.hpp"
#include "storage/image_create.hpp"
#include "storage/image_info.hpp"
#include "storage/qcow2_image.hpp"
#include "test_files.hpp"

extern char** environ;

namespace domus::storage {
namespace {

using testing::pattern;
using testing::run_command;
using testing::TempDir;

class QemuInterop : public QemuTest {
protected:
    std::vector<std::byte> read_all(const std::string& path) {
        auto image = open_image(path, Format::autodetect, true);
        EXPECT_TRUE(image) << image.error().message;
        std::vector<std::byte> out((*image)->size_bytes());
        EXPECT_TRUE((*image)->read(0, out));
        return out;
    }
    // Writes with qemu-io, and the same into the model.
    void qemu_write(const std::string& image, std::vector<std::byte>& model, std::uint64_t offset,
                    std::uint64_t length, int value) {
        std::fill_n(model.begin() + static_cast<long>(offset), length, std::byte(value));
        run(fmt::format("qemu-io -f qcow2 -c 'write -P {} {} {}' {}", value, offset, length,
                        image));
    }
};

TEST_F(QemuInterop, QemuToolsCannotWriteOrCheckAnImageDomusWrites) {
    auto path = dir.file("busy.qcow2");
    ASSERT_TRUE(create_image(path, 4 << 20, Format::qcow2, std::nullopt));
    {
        auto image = open_image(path, Format::qcow2, false);
        ASSERT_TRUE(image) << image.error().message;
        std::string output = run("qemu-io -f qcow2 -c 'write -P 1 0 4k' " + path, 1);
        EXPECT_NE(output.find("Failed to get \"write\" lock"), std::string::npos) << output;
        output = run("qemu-img check " + path, 1);
        EXPECT_NE(output.find("Failed to get shared \"write\" lock"), std::string::npos) << output;
        run("qemu-img info -U " + path);  // forced sharing, as `domus image info`
        // Nothing was written: our data is the only data.
        auto data = pattern(0, 4096, 9);
        ASSERT_TRUE((*image)->write(0, data));
    }
    expect_check_clean(path);
    auto written = pattern(0, 4096, 9);
    auto contents = read_all(path);
    EXPECT_TRUE(std::equal(written.begin(), written.end(), contents.begin()));
}

TEST_F(QemuInterop, DomusCannotOpenAnImageQemuIoHoldsForWriting) {
    auto path = dir.file("held.qcow2");
    run("qemu-img create -q -f qcow2 " + path + " 4M");
    {
        QemuIoHolder holder(path, "qcow2", false);
        auto image = open_image(path, Format::qcow2, false);
        ASSERT_FALSE(image);
        EXPECT_EQ(image.error().message, path + " is in use by qemu-io (pid " +
                                             std::to_string(holder.pid()) +
                                             "), which has it open for writing");
        EXPECT_FALSE(open_image(path, Format::qcow2, true));  // a reader shares no writes
        auto info = image_info(path);
        ASSERT_TRUE(info) << info.error().message;
        EXPECT_EQ(info->virtual_size, 4u << 20);
    }
    EXPECT_TRUE(open_image(path, Format::qcow2, false));
}

TEST_F(QemuInterop, ReadersShareWithQemuIoReadOnlyAndKeepWritersOut) {
    auto path = dir.file("shared.qcow2");
    ASSERT_TRUE(create_image(path, 4 << 20, Format::qcow2, std::nullopt));
    QemuIoHolder holder(path, "qcow2", true);
    auto reader = open_image(path, Format::qcow2, true);
    ASSERT_TRUE(reader) << reader.error().message;
    auto writer = open_image(path, Format::qcow2, false);
    ASSERT_FALSE(writer);
    EXPECT_NE(writer.error().message.find("which does not let others write to it"),
              std::string::npos)
        << writer.error().message;
    // And qemu-io cannot write while our reader has it.
    std::string output = run("qemu-io -f qcow2 -c 'write 0 4k' " + path, 1);
    EXPECT_NE(output.find("lock"), std::string::npos) << output;
}

class QemuCreated : public QemuInterop, public ::testing::WithParamInterface<std::uint64_t> {};

TEST_P(QemuCreated, OpensReadsWritesAndStaysConsistent) {
    const std::uint64_t cs = GetParam();
    constexpr std::uint64_t kSize = 8 << 20;
    auto image_path = dir.file("qemu.qcow2");
    run(fmt::format("qemu-img create -q -f qcow2 -o cluster_size={} {} {}", cs, image_path, kSize));
    std::vector<std::byte> model(kSize);
    qemu_write(image_path, model, 0, 100 << 10, 0xab);
    qemu_write(image_path, model, 1 << 20, 64 << 10, 0xcd);
    EXPECT_TRUE(read_all(image_path) == model);
    {
        auto image = open_image(image_path, Format::qcow2, false);
        ASSERT_TRUE(image) << image.error().message;
        for (std::uint64_t off : {std::uint64_t{4096}, std::uint64_t{(1 << 20) - 512},
                                  std::uint64_t{5 << 20}, kSize - 8192}) {
            auto data = pattern(off, 8192, 3);
            ASSERT_TRUE((*image)->write(off, data));
            std::copy(data.begin(), data.end(), model.begin() + static_cast<long>(off));
        }
        ASSERT_TRUE((*image)->discard(0, 2 * std::max<std::uint64_t>(cs, 4096)));
        std::fill_n(model.begin(), 2 * std::max<std::uint64_t>(cs, 4096), std::byte{0});
        ASSERT_TRUE((*image)->flush());
    }
    expect_check_clean(image_path);
    auto raw = dir.file("out.raw");
    run("qemu-img convert -O raw " + image_path + " " + raw);
    EXPECT_TRUE(testing::read_file(raw) == model);
}

INSTANTIATE_TEST_SUITE_P(ClusterSizes, QemuCreated, ::testing::Values(512, 4096, 65536, 2u << 20));

TEST_F(QemuInterop, DomusImagesPassCheckAndCompareEqualToRaw) {
    for (std::uint64_t cs : {512u, 65536u}) {
        constexpr std::uint64_t kSize = 24 << 20;
        auto qcow2 = dir.file("domus.qcow2"), raw = dir.file("domus.raw");
        ASSERT_TRUE(create_image(qcow2, kSize, Format::qcow2, std::nullopt, cs));
        ASSERT_TRUE(create_image(raw, kSize, Format::raw));
        auto q = open_image(qcow2, Format::qcow2, false);
        auto r = open_image(raw, Format::raw, false);
        std::mt19937_64 rng(cs);
        for (int op = 0; op < 1500; ++op) {
            std::uint64_t length = (1 + rng() % 256) * 512;
            std::uint64_t offset = rng() % ((kSize - length) / 512) * 512;
            if (rng() % 6 == 0) {
                ASSERT_TRUE((*q)->discard(offset, length));
                ASSERT_TRUE((*r)->discard(offset, length));
            } else {
                auto data = pattern(offset, length, static_cast<std::uint32_t>(op));
                ASSERT_TRUE((*q)->write(offset, data));
                ASSERT_TRUE((*r)->write(offset, data));
            }
        }
        q->reset();
        r->reset();
        expect_check_clean(qcow2);
        run("qemu-img compare -f qcow2 -F raw " + qcow2 + " " + raw);
    }
}

TEST_F(QemuInterop, DomusChainConvertsCorrectly) {
    auto base = dir.file("base.qcow2"), mid = dir.file("mid.qcow2"), top = dir.file("top.qcow2");
    ASSERT_TRUE(create_image(base, 4 << 20, Format::qcow2, std::nullopt, 4096));
    ASSERT_TRUE(create_image(mid, std::nullopt, Format::qcow2, std::string("base.qcow2")));
    ASSERT_TRUE(create_image(top, std::nullopt, Format::qcow2, std::string("mid.qcow2"), 512));
    std::uint32_t seed = 1;
    for (const auto& path : {base, mid, top}) {
        auto image = open_image(path, Format::qcow2, false);
        for (std::uint64_t off = seed * 3 * 4096; off < (4u << 20); off += 700 * 1024)
            ASSERT_TRUE((*image)->write(off, pattern(off, 100 * 1024, seed)));
        ++seed;
    }
    for (const auto& path : {base, mid, top})
        expect_check_clean(path);
    auto raw = dir.file("chain.raw");
    run("qemu-img convert -O raw " + top + " " + raw);
    EXPECT_TRUE(testing::read_file(raw) == read_all(top));
    auto info = nlohmann::json::parse(run("qemu-img info --output=json " + top));
    EXPECT_EQ(info["backing-filename"], "mid.qcow2");
    EXPECT_EQ(info["backing-filename-format"], "qcow2");
    EXPECT_EQ(info["cluster-size"], 512);
    EXPECT_EQ(info["virtual-size"], 4 << 20);
}

TEST_F(QemuInterop, QemuOverlayOverQemuBase) {
    auto base = dir.file("base.qcow2"), top = dir.file("top.qcow2");
    run("qemu-img create -q -f qcow2 " + base + " 4M");
    std::vector<std::byte> model(4 << 20);
    qemu_write(base, model, 0, 1 << 20, 0x11);
    run("qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 " + top);
    std::vector<std::byte> top_model = model;
    qemu_write(top, top_model, 512 << 10, 128 << 10, 0x22);
    EXPECT_TRUE(read_all(top) == top_model);
    {
        auto image = open_image(top, Format::qcow2, false);
        ASSERT_TRUE(image) << image.error().message;
        auto data = pattern(1000 * 512, 4096, 7);  // inside a base-backed cluster: COW
        ASSERT_TRUE((*image)->write(1000 * 512, data));
        std::copy(data.begin(), data.end(), top_model.begin() + 1000 * 512);
    }
    expect_check_clean(top);
    auto raw = dir.file("top.raw");
    run("qemu-img convert -O raw " + top + " " + raw);
    EXPECT_TRUE(testing::read_file(raw) == top_model);
    EXPECT_TRUE(read_all(base) == model);
}

}  // namespace
}  // namespace domus::storage
