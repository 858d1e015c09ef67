// `domus image convert` against qemu-img: what we convert compares equal to the source and
// to qemu-img convert's result, passes qemu-img check, respects qemu-io's locks, and the
// command draws its progress line. Skips (saying so) when qemu-img or qemu-io is missing.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/fd.hpp"
#include "qemu_fixture.hpp"
#include "storage/image_convert.hpp"
#include "test_files.hpp"

extern char** environ;

namespace domus::storage {
namespace {

using testing::run_command;
using testing::TempDir;

#define EXPECT_CONTAINS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

std::string read_text(const std::string& path) {
    auto bytes = testing::read_file(path);
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

class ConvertInterop : public QemuTest {
protected:
    std::uint64_t actual_size(const std::string& path) {
        auto info = nlohmann::json::parse(run("qemu-img info -U --output=json " + path));
        return info["actual-size"].get<std::uint64_t>();
    }
    // A qcow2 chain written by qemu-io: base (raw) <- mid <- top, data at every level,
    // a zero-written range over data, and most of the disk never written.
    std::string qemu_chain() {
        auto base = dir.file("base.raw"), mid = dir.file("mid.qcow2"), top = dir.file("top.qcow2");
        run("qemu-img create -q -f raw " + base + " 20M");
        run("qemu-io -f raw -c 'write -P 0x11 0 1M' -c 'write -P 0x12 12M 3M' " + base);
        run("qemu-img create -q -f qcow2 -F raw -b base.raw -o cluster_size=4096 " + mid);
        run("qemu-io -f qcow2 -c 'write -P 0x21 512k 1M' -c 'write -z 12M 1M' " + mid);
        run("qemu-img create -q -f qcow2 -F qcow2 -b mid.qcow2 " + top);
        run("qemu-io -f qcow2 -c 'write -P 0x31 7M 64k' -c 'write -P 0x32 19M 1M' " + top);
        return top;
    }
};

TEST_F(ConvertInterop, ChainConvertsLikeQemuImg) {
    auto top = qemu_chain();
    for (const char* format : {"qcow2", "raw"}) {
        SCOPED_TRACE(format);
        auto ours = dir.file(std::string("ours.") + format);
        auto theirs = dir.file(std::string("theirs.") + format);
        ConvertOptions options;
        options.target_format = *parse_format(format);
        auto converted = convert_image(top, ours, options);
        ASSERT_TRUE(converted) << converted.error().message;
        run(fmt::format("qemu-img convert -O {} {} {}", format, top, theirs));
        run(fmt::format("qemu-img compare -F {} {} {}", format, top, ours));
        run(fmt::format("qemu-img compare -f {0} -F {0} {1} {2}", format, ours, theirs));
        // Sparse like qemu-img's (a little metadata of slack for qcow2).
        EXPECT_LE(actual_size(ours), actual_size(theirs) + (256u << 10));
        if (std::string(format) == "qcow2") {
            expect_check_clean(ours);
            auto info = nlohmann::json::parse(run("qemu-img info --output=json " + ours));
            EXPECT_FALSE(info.contains("backing-filename")) << info.dump();
            EXPECT_EQ(info["virtual-size"], 20 << 20);
        }
    }
    // And back: our raw -> our qcow2 -> raw again, still the same disk.
    ConvertOptions to_qcow2;
    auto again = dir.file("again.qcow2");
    ASSERT_TRUE(convert_image(dir.file("ours.raw"), again, to_qcow2));
    run("qemu-img compare -F qcow2 " + top + " " + again);
    expect_check_clean(again);
}

TEST_F(ConvertInterop, DifferentSourceAndTargetClusterSizes) {
    auto src = dir.file("src.qcow2"), ours = dir.file("ours.qcow2");
    run("qemu-img create -q -f qcow2 -o cluster_size=512 " + src + " 5M");
    run("qemu-io -f qcow2 -c 'write -P 0x41 1536 3k' -c 'write -P 0x42 4000k 700k' " + src);
    ConvertOptions options;
    options.cluster_size = 2u << 20;
    ASSERT_TRUE(convert_image(src, ours, options));
    run("qemu-img compare " + src + " " + ours);
    expect_check_clean(ours);
    auto info = nlohmann::json::parse(run("qemu-img info --output=json " + ours));
    EXPECT_EQ(info["cluster-size"], 2 << 20);
}

TEST_F(ConvertInterop, SourceQemuIoWritesIsRefusedUnlessForceShare) {
    auto src = dir.file("busy.qcow2"), out = dir.file("out.qcow2");
    run("qemu-img create -q -f qcow2 " + src + " 4M");
    run("qemu-io -f qcow2 -c 'write -P 0x51 64k 64k' " + src);
    QemuIoHolder writer(src, "qcow2", false);
    auto refused = convert_image(src, out, {});
    ASSERT_FALSE(refused);
    EXPECT_CONTAINS(refused.error().message, src);
    EXPECT_CONTAINS(refused.error().message, "qemu-io");
    struct stat st {};
    EXPECT_NE(::stat(out.c_str(), &st), 0);
    ConvertOptions shared;
    shared.share_source = true;
    ASSERT_TRUE(convert_image(src, out, shared));
    run("qemu-img compare -U " + src + " " + out);
}

// The command itself: the progress line with -p (rewritten with \r, ended by a newline),
// nothing when stderr is not a terminal, and the line on a terminal without -p.
TEST_F(ConvertInterop, CommandDrawsItsProgressLine) {
    auto src = dir.file("src.raw");
    run("qemu-img create -q -f raw " + src + " 16M");
    run("qemu-io -f raw -c 'write -P 0x61 3M 5M' " + src);
    auto err = dir.file("err.txt");
    std::string domus = DOMUS_BIN;
    run(fmt::format("({} image convert -p {} {} 2>{})", domus, src, dir.file("p.qcow2"), err));
    std::string line = read_text(err);
    EXPECT_CONTAINS(line, "\r");
    EXPECT_CONTAINS(line, " 100% 16.0/16.0 MiB");
    EXPECT_CONTAINS(line, "MiB/s");
    ASSERT_FALSE(line.empty());
    EXPECT_EQ(line.back(), '\n');
    EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
    run("qemu-img compare " + src + " " + dir.file("p.qcow2"));

    run(fmt::format("({} image convert {} {} 2>{})", domus, src, dir.file("quiet.qcow2"), err));
    EXPECT_EQ(read_text(err), "");

    if (!testing::have_program("script")) GTEST_SKIP() << "skipped: script (util-linux) missing";
    // script(1) runs the command on a pseudo-terminal and copies what it prints.
    std::string tty = run(fmt::format("script -qec '{} image convert {} {} -O raw' /dev/null",
                                      domus, src, dir.file("tty.raw")));
    EXPECT_CONTAINS(tty, "100% 16.0/16.0 MiB");

    // A failure names the file and leaves no target behind.
    std::string output;
    EXPECT_NE(run_command(fmt::format("{} image convert {} {}", domus, dir.file("tty.raw"),
                                      dir.file("p.qcow2")),
                          &output),
              0);
    EXPECT_CONTAINS(output, dir.file("p.qcow2") + ": the target already exists");
}

}  // namespace
}  // namespace domus::storage
