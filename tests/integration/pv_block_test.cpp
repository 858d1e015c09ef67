// PV block end to end: a guest's blkfront against the monitor's blkback over grants,
// a shared ring and XenBus, on raw and qcow2 images, standalone and through domusd.
#include <gtest/gtest.h>

#include <regex>

#include "toolstack_fixture.hpp"

namespace domus::test {
namespace {

class PvBlockTest : public ToolstackTest {
protected:
    void SetUp() override {
        ToolstackTest::SetUp();
        if (IsSkipped()) return;
        ASSERT_EQ(domus({"info"}).status, 0);  // starts domusd and the store
    }

    ProcessResult blk_tool(const std::string& disk, const std::string& cmdline) {
        return run(guest_image("blk_tool"),
                   {"--store-run-dir", run_dir_, "--domid", "77", "--disk", disk, "--cmdline",
                    cmdline, "--stats"},
                   std::chrono::seconds(120));
    }
};

TEST_F(PvBlockTest, GuestWritesAndVerifiesPatternsOnARawDisk) {
    std::string disk = image("raw.img", "64M", "raw");
    auto r = blk_tool("format=raw, vdev=xvda, target=" + disk, "mode=verify size_mb=16");
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("blk_tool: PASS"), std::string::npos) << r.out;
    // The ring batches: a few exits per MiB, not thousands.
    EXPECT_NE(r.err.find("blk_exits_per_mib="), std::string::npos) << r.err;
}

// Persistent grants (blkfront.persistent=1): the same checks through bounce pages the
// backend keeps mapped; without the option the frontend grants its own pages per request.
TEST_F(PvBlockTest, PersistentGrantsCarryTheSamePatterns) {
    std::string disk = image("raw.img", "64M", "raw");
    for (bool persistent : {true, false}) {
        auto r = blk_tool(
            "format=raw, vdev=xvda, target=" + disk,
            std::string("mode=verify size_mb=16 blkfront.persistent=") + (persistent ? "1" : "0"));
        EXPECT_EQ(r.status, 0) << r.out << r.err;
        EXPECT_NE(r.out.find("blk_tool: PASS"), std::string::npos) << r.out;
        std::smatch kept;
        ASSERT_TRUE(std::regex_search(r.err, kept, std::regex(R"(blk_persistent_grants=(\d+))")))
            << r.err;
        EXPECT_EQ(std::stoul(kept[1]) > 0, persistent) << r.err;
    }
}

TEST_F(PvBlockTest, Qcow2DiskStaysConsistentForQemuImg) {
    std::string disk = image("disk.qcow2", "64M", "qcow2");
    auto r = blk_tool("format=qcow2, vdev=xvda, target=" + disk, "mode=verify size_mb=16");
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("blk_tool: PASS"), std::string::npos) << r.out;
    // The asynchronous engine moved the data (the synchronous one counts neither); the
    // first write of each cluster allocated it through the image.
    auto count = [&](const char* key) {
        std::smatch m;
        EXPECT_TRUE(std::regex_search(r.err, m, std::regex(std::string(key) + R"(=(\d+))")))
            << key << " in " << r.err;
        return m.empty() ? 0ull : std::stoull(m[1]);
    };
    EXPECT_GT(count("blk_inline_transfers") + count("blk_queued_transfers"), 0ull) << r.err;
    EXPECT_GT(count("blk_image_transfers"), 0ull) << r.err;
    if (access("/usr/bin/qemu-img", X_OK) != 0) GTEST_SKIP() << "skipped: qemu-img not installed";
    auto check = run_process({"/usr/bin/qemu-img", "check", disk}, std::chrono::seconds(30));
    EXPECT_EQ(check.status, 0) << check.out << check.err;
}

TEST_F(PvBlockTest, ReadOnlyDiskRefusesWrites) {
    std::string disk = image("ro.img", "16M", "raw");
    auto r = blk_tool("format=raw, vdev=xvda, access=ro, target=" + disk, "mode=verify size_mb=1");
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("FAIL"), std::string::npos) << r.out;
}

TEST_F(PvBlockTest, DomainWithADiskFromItsXlConfig) {
    std::string disk = image("cfg.img", "32M", "raw");
    std::string cfg =
        config("withdisk", "name = \"withdisk\"\nkernel = \"" + guest_image("blk_tool") +
                               "\"\ncmdline = \"mode=verify size_mb=4\"\n"
                               // kept after poweroff, so the console history stays readable
                               "on_poweroff = \"preserve\"\n"
                               "disk = [ 'format=raw, vdev=xvda, access=rw, target=" +
                               disk + "' ]\n");
    auto created = domus({"create", cfg});
    ASSERT_EQ(created.status, 0) << created.err;
    auto console = domus({"console", "withdisk"}, std::chrono::seconds(60));
    EXPECT_NE(console.out.find("blk_tool: PASS"), std::string::npos) << console.out;
}

TEST_F(PvBlockTest, BadDiskSpecsAreRejected) {
    auto r =
        run(guest_image("blk_tool"), {"--store-run-dir", run_dir_, "--disk", "/x.img,vhd,xvda"});
    EXPECT_EQ(r.status, kMonitorError);
    EXPECT_NE(r.err.find("not supported"), std::string::npos) << r.err;
    r = run(guest_image("blk_tool"), {"--disk", "format=raw, vdev=xvda, target=/nonexistent.img",
                                      "--store-run-dir", run_dir_});
    EXPECT_EQ(r.status, kMonitorError);
    EXPECT_NE(r.err.find("nonexistent.img"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace domus::test
