// Save, restore and migration of domains with more than one vCPU, and of what comes back
// with them (docs/migration.md): a guest counting on both of its vCPUs (smp_counter.elf:
// workers bound to each vCPU and unbound ones, each sleeping on its vCPU's timer between
// spins) goes on counting on both, its clock monotonic, across a save and restore, a
// live migration, and with a vCPU hot-plugged offline at the save and online after it;
// a PV channel (channel_echo.elf) works before and after a save and restore; a domain
// ballooned down (balloon_test.elf) stays small across a save and restore, and balloons
// up and down again there.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <regex>

#include "balloon_guest.hpp"
#include "channel_client.hpp"
#include "two_hosts_fixture.hpp"

namespace domus::test {
namespace {

struct SmpCounter {
    long long online = -1, c0 = -1, c1 = -1, backwards = -1, now = -1;
};

class MigrationVcpusTest : public BalloonGuest<TwoHostsTest> {
protected:
    // The guest's figures (data/counter/status) in domain "smp" of run dir `dir`.
    SmpCounter counter(const std::string& dir) {
        SmpCounter c;
        std::string status = read_at(dir, "smp", "data/counter/status");
        std::smatch m;
        std::regex re(
            R"(online=([0-9a-f]+) c0=(\d+) c1=(\d+) c2=\d+ c3=\d+ backwards=(\d+) now=(\d+))");
        if (std::regex_search(status, m, re)) {
            c.online = std::stoll(m[1], nullptr, 16);
            c.c0 = std::stoll(m[2]), c.c1 = std::stoll(m[3]);
            c.backwards = std::stoll(m[4]), c.now = std::stoll(m[5]);
        }
        return c;
    }

    // Waits until both vCPUs counted past `past` (and `online` is the mask); figures then.
    SmpCounter counted_past(const std::string& dir, const SmpCounter& past, long long online = 3) {
        SmpCounter c;
        eventually(
            [&] {
                c = counter(dir);
                // 300 ms of guest time: each vCPU's timer fired many times meanwhile.
                return c.online == online && c.c0 > past.c0 + 100 && c.c1 > past.c1 + 100 &&
                       c.now > past.now + 300'000'000;
            },
            std::chrono::seconds(30));
        return c;
    }

    SmpCounter started(const std::string& extra = "") {
        auto created = domus(
            {"create", config("smp", "name = \"smp\"\nkernel = \"" + guest_image("smp_counter") +
                                         "\"\nmemory = 32\nvcpus = 2\n" + extra)});
        EXPECT_EQ(created.status, 0) << created.err;
        return counted_past(run_dir_, SmpCounter{3, 0, 0, 0, 0});
    }

    void expect_went_on(const SmpCounter& before, const SmpCounter& after) {
        EXPECT_EQ(after.online, 3) << "both vCPUs online";
        EXPECT_GT(after.c0, before.c0 + 100) << "vCPU 0 counts on";
        EXPECT_GT(after.c1, before.c1 + 100) << "vCPU 1 counts on";
        EXPECT_EQ(after.backwards, 0) << "no clock went back";
        EXPECT_GT(after.now, before.now) << "guest time goes on";
    }

    int domid(const std::string& name) {
        auto r = domus({"domid", name});
        return r.status == 0 ? std::stoi(r.out) : -1;
    }

    // Domain "bal" (balloon_test, 256 MiB) ballooned down to 64 MiB, as the toolstack
    // and the host see it: its ID.
    int ballooned_down() {
        EXPECT_EQ(domus({"create", balloon_config("bal", 256, 256)}).status, 0);
        int id = domid("bal");
        EXPECT_TRUE(eventually([&] { return read(id, "data/balloon/status") == "ready"; }));
        EXPECT_EQ(domus({"mem-set", "bal", "64"}).status, 0);
        EXPECT_TRUE(eventually([&] { return listed_mib("bal") == 64; })) << listed_mib("bal");
        EXPECT_TRUE(eventually([&] { return host_mib() <= 64; })) << host_mib();
        return id;
    }
};

TEST_F(MigrationVcpusTest, SaveAndRestoreGoOnCountingOnBothVcpus) {
    SmpCounter before = started();
    ASSERT_EQ(before.online, 3);
    std::string file = run_dir_ + "/smp.img";
    for (int round = 0; round < 2; ++round) {
        auto saved = domus({"save", "smp", file});
        ASSERT_EQ(saved.status, 0) << saved.err;
        EXPECT_NE(domus({"domid", "smp"}).status, 0) << "the saved domain is gone";
        auto restored = domus({"restore", file});
        ASSERT_EQ(restored.status, 0) << restored.err;
        SmpCounter after = counted_past(run_dir_, before);
        expect_went_on(before, after);
        before = after;
    }
}

TEST_F(MigrationVcpusTest, LiveMigrationThereAndBackGoesOnCountingOnBothVcpus) {
    SmpCounter before = started();
    auto there = domus({"migrate", "-s", "", "smp", transport_to(dst_)});
    ASSERT_EQ(there.status, 0) << there.err << there.out;
    SmpCounter moved = counted_past(dst_, before);
    expect_went_on(before, moved);
    auto back = run_process({"/usr/bin/env", "DOMUS_RUN_DIR=" + dst_, domus_binary(), "migrate",
                             "-s", "", "smp", transport_to(run_dir_)},
                            std::chrono::seconds(60));
    ASSERT_EQ(back.status, 0) << back.err << back.out;
    expect_went_on(moved, counted_past(run_dir_, moved));
}

// A warm migration whose transport dies: the suspend is cancelled (the guest sees 1) and
// the parked vCPU just goes on; a save after that still works.
TEST_F(MigrationVcpusTest, ACancelledSuspendLetsBothVcpusGoOn) {
    SmpCounter before = started();
    auto cut = domus({"migrate", "--warm", "-s", "", "smp", "head -c 5000 >/dev/null"});
    EXPECT_NE(cut.status, 0);
    SmpCounter resumed = counted_past(run_dir_, before);
    expect_went_on(before, resumed);
    std::string file = run_dir_ + "/smp.img";
    ASSERT_EQ(domus({"save", "smp", file}).status, 0);
    ASSERT_EQ(domus({"restore", file}).status, 0);
    expect_went_on(resumed, counted_past(run_dir_, resumed));
}

// vCPU 1 is offline at the save (its ports belong to the old domain): after the restore
// it comes online again with new ones, and a vCPU that never ran before comes up too.
TEST_F(MigrationVcpusTest, VcpusHotPluggedAroundASaveComeBackAndWork) {
    SmpCounter before = started("maxvcpus = 3\n");
    ASSERT_EQ(domus({"vcpu-set", "smp", "1"}).status, 0);
    SmpCounter one;
    ASSERT_TRUE(eventually([&] { return (one = counter(run_dir_)).online == 1; })) << one.online;
    std::string file = run_dir_ + "/smp.img";
    auto saved = domus({"save", "smp", file});
    ASSERT_EQ(saved.status, 0) << saved.err;
    ASSERT_EQ(domus({"restore", file}).status, 0);
    SmpCounter restored;
    ASSERT_TRUE(eventually([&] {
        restored = counter(run_dir_);
        return restored.c0 > one.c0 + 100;
    })) << "vCPU 0 counts on";
    EXPECT_EQ(restored.online, 1);
    auto plugged = domus({"vcpu-set", "smp", "3"});
    ASSERT_EQ(plugged.status, 0) << plugged.err;
    SmpCounter after;
    ASSERT_TRUE(eventually([&] {
        after = counter(run_dir_);
        return after.online == 7 && after.c1 > restored.c1 + 100;
    })) << after.online
        << " c1=" << after.c1;
    EXPECT_EQ(after.backwards, 0);
    // And all three go on across another save and restore.
    ASSERT_EQ(domus({"save", "smp", file}).status, 0);
    ASSERT_EQ(domus({"restore", file}).status, 0);
    SmpCounter again = counted_past(run_dir_, after, 7);
    EXPECT_EQ(again.backwards, 0);
    (void)before;
}

// The channel's new backend takes the same ring (its indices from the page) with a new
// event channel: a line sent after the restore is answered, and so is one that the guest
// had not read yet when it was saved.
TEST_F(MigrationVcpusTest, ChannelReconnectsAfterSaveAndRestore) {
    std::string sock = run_dir_ + "/echo.sock";
    auto created = domus(
        {"create", config("ch", "name = \"ch\"\nkernel = \"" + guest_image("channel_echo") +
                                    "\"\nmemory = 32\nvcpus = 2\nextra = \"loops=100\"\n"
                                    "channel = [ \"name=org.domus.echo,connection=socket,path=" +
                                    sock + "\" ]\n")});
    ASSERT_EQ(created.status, 0) << created.err;
    std::unique_ptr<ChannelClient> client;
    ASSERT_TRUE(
        eventually([&] { return (client = std::make_unique<ChannelClient>(sock))->connected(); }));
    ASSERT_NE(client->read_until("channel_echo ready\n").find("channel_echo ready\n"),
              std::string::npos)
        << client->received();
    ASSERT_TRUE(client->send("before the save\n"));
    ASSERT_NE(client->read_until("BEFORE THE SAVE\n").find("BEFORE THE SAVE\n"), std::string::npos)
        << client->received();

    std::string file = run_dir_ + "/ch.img";
    for (int round = 0; round < 2; ++round) {
        auto saved = domus({"save", "ch", file});
        ASSERT_EQ(saved.status, 0) << saved.err;
        auto restored = domus({"restore", file});
        ASSERT_EQ(restored.status, 0) << restored.err;
        client.reset();
        ASSERT_TRUE(eventually(
            [&] { return (client = std::make_unique<ChannelClient>(sock))->connected(); }));
        std::string line = "after restore " + std::to_string(round) + "\n";
        ASSERT_TRUE(client->send(line));
        std::string upper = "AFTER RESTORE " + std::to_string(round) + "\n";
        EXPECT_NE(client->read_until(upper).find(upper), std::string::npos) << client->received();
    }
}

// Ballooned from 256 to 64 MiB, saved and restored: the frames it gave back stay given
// back (the physmap record), so the host holds ~64 MiB, the guest and the toolstack
// still say 64, and mem-set takes it up to 256 and down to 64 again.
TEST_F(MigrationVcpusTest, BalloonedDownDomainStaysSmallAcrossSaveAndRestore) {
    int id = ballooned_down();
    ASSERT_FALSE(HasFailure());
    auto stats = command(id, "stats");
    ASSERT_EQ(stats.substr(0, stats.find(' ')), "65536") << stats;

    std::string file = run_dir_ + "/bal.img";
    auto saved = domus({"save", "bal", file});
    ASSERT_EQ(saved.status, 0) << saved.err;
    auto restored = domus({"restore", file});
    ASSERT_EQ(restored.status, 0) << restored.err;
    id = domid("bal");
    ASSERT_GT(id, 0);
    EXPECT_EQ(listed_mib("bal"), 64);
    EXPECT_EQ(read(id, "memory/target"), "65536");
    stats = command(id, "stats");
    EXPECT_EQ(stats.substr(0, stats.find(' ')), "65536") << stats;
    EXPECT_LE(host_mib(), 66) << "what it gave back stays given back";

    ASSERT_EQ(domus({"mem-set", "bal", "256"}).status, 0);
    EXPECT_TRUE(eventually([&] {
        stats = command(id, "stats");
        return stats.substr(0, stats.find(' ')) == "262144";
    })) << stats;
    EXPECT_TRUE(eventually([&] { return listed_mib("bal") == 256; })) << listed_mib("bal");
    std::string held = command(id, "hold 160");
    EXPECT_GE(std::atol(held.c_str() + std::min<std::size_t>(5, held.size())), 150)
        << held << ": the memory it got back is usable";
    EXPECT_GT(host_mib(), 150);
    EXPECT_EQ(command(id, "release"), "released");

    ASSERT_EQ(domus({"mem-set", "bal", "64"}).status, 0);
    EXPECT_TRUE(eventually([&] { return listed_mib("bal") == 64; })) << listed_mib("bal");
    EXPECT_TRUE(eventually([&] { return host_mib() <= 64; })) << host_mib();
}

// The same across a live migration: the destination, built while the rounds arrive,
// takes the physmap at the end of the stream.
TEST_F(MigrationVcpusTest, BalloonedDownDomainStaysSmallAcrossALiveMigration) {
    ballooned_down();
    ASSERT_FALSE(HasFailure());
    auto moved = domus({"migrate", "-s", "", "bal", transport_to(dst_)});
    ASSERT_EQ(moved.status, 0) << moved.err << moved.out;
    EXPECT_EQ(listed_mib("bal", dst_), 64);
    EXPECT_LE(host_mib(dst_), 66) << "what it gave back stays given back there";
    auto raised = run_process(
        {"/usr/bin/env", "DOMUS_RUN_DIR=" + dst_, domus_binary(), "mem-set", "bal", "256"},
        std::chrono::seconds(30));
    ASSERT_EQ(raised.status, 0) << raised.err;
    EXPECT_TRUE(eventually([&] { return listed_mib("bal", dst_) == 256; }))
        << listed_mib("bal", dst_);
}

}  // namespace
}  // namespace domus::test
