// Block hot-plug on a running domain through domusd: block-attach, block-list and
// block-detach as a user runs them, the guest's blkfront following (blk_hotplug reports
// its steps in data/hotplug), and the XenBus directories appearing and going.
#include <gtest/gtest.h>

#include <fstream>

#include "toolstack_fixture.hpp"

namespace domus::test {
namespace {

class HotplugTest : public ToolstackTest {
protected:
    void SetUp() override {
        ToolstackTest::SetUp();
        if (IsSkipped()) return;
        ASSERT_EQ(domus({"info"}).status, 0);
    }

    void create_hotplug_domain(const std::string& extra) {
        std::string cfg = config("hp", "name = \"hp\"\nkernel = \"" + guest_image("blk_hotplug") +
                                           "\"\nmemory = 64\non_poweroff = \"preserve\"\n" + extra);
        auto r = domus({"create", cfg});
        ASSERT_EQ(r.status, 0) << r.err;
    }

    std::string guest_step() {
        auto r = xenstore("xenstore-read", {"/local/domain/1/data/hotplug"});
        return r.status == 0 ? r.out : "";
    }

    bool guest_says(const std::string& prefix) {
        return eventually([&] { return guest_step().rfind(prefix, 0) == 0; },
                          std::chrono::seconds(20));
    }

    bool store_has(const std::string& path) {
        return xenstore("xenstore-exists", {path}).status == 0;
    }

    static std::string first_bytes(const std::string& path, std::size_t n) {
        std::ifstream in(path, std::ios::binary);
        std::string bytes(n, '\0');
        in.read(bytes.data(), std::streamsize(n));
        return bytes.c_str();
    }
};

TEST_F(HotplugTest, AttachWriteDetachTwiceWhileTheGuestRuns) {
    std::string raw = image("one.raw", "8M", "raw");
    std::string qcow = image("two.qcow2", "8M", "qcow2");
    create_hotplug_domain("extra = \"rounds=2\"\n");
    ASSERT_TRUE(guest_says("ready 0")) << guest_step();

    auto r = domus({"block-attach", "hp", raw + ",raw,xvdb,w"});
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_TRUE(guest_says("wrote xvdb")) << guest_step();
    // Both directories, where a Xen user looks for them.
    EXPECT_TRUE(store_has("/local/domain/1/device/vbd/51728"));
    EXPECT_EQ(xenstore("xenstore-read", {"/local/domain/0/backend/vbd/1/51728/state"}).out, "4\n");
    auto list = domus({"block-list", "hp"});
    EXPECT_NE(list.out.find("51728"), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("xvdb"), std::string::npos) << list.out;

    r = domus({"block-detach", "hp", "xvdb"});
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_TRUE(guest_says("detached xvdb")) << guest_step();
    EXPECT_NE(guest_step().find("-5"), std::string::npos) << "I/O after detach: " << guest_step();
    EXPECT_FALSE(store_has("/local/domain/1/device/vbd/51728"));
    EXPECT_FALSE(store_has("/local/domain/0/backend/vbd/1/51728"));
    EXPECT_EQ(domus({"block-list", "hp"}).out.find("51728"), std::string::npos);
    EXPECT_EQ(first_bytes(raw, 64), "domus-hotplug round 1 xvdb");

    // The same name again, now a qcow2 image: a new device for the guest.
    r = domus({"block-attach", "hp", "format=qcow2,vdev=xvdb,target=" + qcow});
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_TRUE(guest_says("wrote xvdb")) << guest_step();
    ASSERT_EQ(domus({"block-detach", "hp", "51728"}).status, 0);
    ASSERT_TRUE(guest_says("PASS")) << guest_step();
    auto check = run_process({"/usr/bin/qemu-img", "check", qcow}, std::chrono::seconds(20));
    EXPECT_EQ(check.status, 0) << check.out << check.err;
    auto io = run_process({"/usr/bin/qemu-io", "-r", "-c", "read -v 0 32", qcow},
                          std::chrono::seconds(20));
    EXPECT_NE(io.out.find("domus.hotplug.ro"), std::string::npos) << io.out;
}

TEST_F(HotplugTest, RepeatedAttachAndDetachGivesTheGuestsMemoryBack) {
    // Each connect takes bounce pages and grants (megabytes with indirect segments);
    // twelve rounds in 32 MiB only work if every detach gives them back.
    std::string raw = image("one.raw", "8M", "raw");
    std::string cfg = config("hp", "name = \"hp\"\nkernel = \"" + guest_image("blk_hotplug") +
                                       "\"\nmemory = 32\non_poweroff = \"preserve\"\n" +
                                       "extra = \"rounds=12\"\n");
    ASSERT_EQ(domus({"create", cfg}).status, 0);
    ASSERT_TRUE(guest_says("ready 0")) << guest_step();
    std::vector<long> free_after;
    for (int round = 1; round <= 12; ++round) {
        auto r = domus({"block-attach", "hp", raw + ",raw,xvdb,w"});
        ASSERT_EQ(r.status, 0) << "round " << round << ": " << r.err;
        ASSERT_TRUE(guest_says("wrote xvdb")) << "round " << round << ": " << guest_step();
        r = domus({"block-detach", "hp", "xvdb"});
        ASSERT_EQ(r.status, 0) << "round " << round << ": " << r.err;
        if (round == 12) break;  // the guest says PASS at once after the last one
        ASSERT_TRUE(guest_says("detached xvdb")) << "round " << round << ": " << guest_step();
        std::string step = guest_step();
        free_after.push_back(std::atol(step.c_str() + step.find("free=") + 5));
    }
    EXPECT_TRUE(guest_says("PASS")) << guest_step();
    // What one round takes, the next finds again, except the device record and its ring
    // page, kept for stale references (under 4 pages a round; a connect takes hundreds).
    long rounds = long(free_after.size()) - 1;
    EXPECT_LT(free_after.front() - free_after.back(), 4 * rounds)
        << free_after.front() << " -> " << free_after.back();
}

TEST_F(HotplugTest, BadRequestsAreRefusedAndChangeNothing) {
    std::string raw = image("one.raw", "8M", "raw");
    std::string other = image("other.raw", "8M", "raw");
    create_hotplug_domain("disk = [ '" + raw + ",raw,xvda,w' ]\nextra = \"rounds=1\"\n");
    ASSERT_TRUE(guest_says("ready 1")) << guest_step();

    auto r = domus({"block-attach", "hp", other + ",raw,xvda,w"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("already has a disk xvda"), std::string::npos) << r.err;
    r = domus({"block-attach", "hp", run_dir_ + "/missing.raw,raw,xvdc,w"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("missing.raw"), std::string::npos) << r.err;
    r = domus({"block-attach", "hp", "relative.raw,raw,xvdc,w"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("absolute"), std::string::npos) << r.err;
    r = domus({"block-attach", "hp", other + ",raw,bogus,w"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("bogus"), std::string::npos) << r.err;
    r = domus({"block-attach", "nosuch", other + ",raw,xvdc,w"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("no domain"), std::string::npos) << r.err;
    r = domus({"block-detach", "hp", "xvdq"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("no disk xvdq"), std::string::npos) << r.err;
    // Nothing changed: still one disk, connected.
    auto list = domus({"block-list", "hp", "--json"});
    EXPECT_NE(list.out.find("51712"), std::string::npos) << list.out;
    EXPECT_EQ(list.out.find("51744"), std::string::npos) << list.out;
    EXPECT_EQ(xenstore("xenstore-read", {"/local/domain/0/backend/vbd/1/51712/state"}).out, "4\n");

    // The guest still finishes its round on a disk attached after all that.
    r = domus({"block-attach", "hp", other + ",raw,xvdb,w"});
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_TRUE(guest_says("wrote xvdb")) << guest_step();
    r = domus({"block-detach", "hp", "xvdb"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(guest_says("PASS")) << guest_step();
}

// Rate-limited disks (DISKSPEC rate_bytes=/rate_iops=) serve the guest, and the limit
// changes on the running domain (block-rate); bad values are refused.
TEST_F(HotplugTest, RateLimitedDisksServeTheGuestAndTheirLimitChangesWhileItRuns) {
    std::string raw = image("one.raw", "8M", "raw");
    std::string other = image("other.raw", "8M", "raw");
    create_hotplug_domain("disk = [ 'format=raw,vdev=xvda,access=w,rate_iops=50,target=" + raw +
                          "' ]\nextra = \"rounds=1\"\n");
    ASSERT_TRUE(guest_says("ready 1")) << guest_step();
    auto r = domus({"block-rate", "hp", "xvda", "--bytes", "10M", "--iops", "0"});
    EXPECT_EQ(r.status, 0) << r.err;
    r = domus({"block-rate", "hp", "xvda", "--iops", "lots"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("rate_iops: \"lots\""), std::string::npos) << r.err;
    r = domus({"block-rate", "hp", "xvdq", "--iops", "10"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("no disk xvdq"), std::string::npos) << r.err;
    // A disk attached with a limit of its own: the guest's round goes through it.
    r = domus({"block-attach", "hp",
               "format=raw,vdev=xvdb,access=w,rate_bytes=1M,rate_iops=100,target=" + other});
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_TRUE(guest_says("wrote xvdb")) << guest_step();
    r = domus({"block-detach", "hp", "xvdb"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(guest_says("PASS")) << guest_step();
}

TEST_F(HotplugTest, AGuestThatDoesNotLetGoKeepsItsDiskUnlessForced) {
    std::string raw = image("one.raw", "8M", "raw");
    create_hotplug_domain("extra = \"rounds=1\"\n");
    ASSERT_TRUE(guest_says("ready 0")) << guest_step();
    ASSERT_EQ(domus({"block-attach", "hp", raw + ",raw,xvdb,w"}).status, 0);
    ASSERT_TRUE(guest_says("wrote xvdb")) << guest_step();
    // A paused guest cannot answer the close.
    ASSERT_EQ(domus({"pause", "hp"}).status, 0);
    auto r = domus({"block-detach", "hp", "xvdb", "--timeout", "0.3"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("did not release xvdb"), std::string::npos) << r.err;
    EXPECT_TRUE(store_has("/local/domain/0/backend/vbd/1/51728"));
    r = domus({"block-detach", "hp", "xvdb", "--timeout", "0.3", "--force"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.err.find("removed by force"), std::string::npos) << r.err;
    EXPECT_FALSE(store_has("/local/domain/0/backend/vbd/1/51728"));
    EXPECT_FALSE(store_has("/local/domain/1/device/vbd/51728"));
    ASSERT_EQ(domus({"unpause", "hp"}).status, 0);
    EXPECT_TRUE(guest_says("PASS")) << guest_step();
}

}  // namespace
}  // namespace domus::test
