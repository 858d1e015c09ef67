// Snapshot operations survive a daemon killed at any step: domusd dies (SIGKILL, at a
// crash point) after writing its intent, after the monitor switched the disks, or after
// the indexes were saved; the next daemon finds the intent when it recovers the domain
// and completes or undoes the operation, so the disk's index, the domain's record and the
// image the monitor writes agree again, and snapshots go on working.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "toolstack_fixture.hpp"

namespace domus::test {
namespace {

struct CrashCase {
    const char* point;
    const char* operation;  // "create" | "revert"
    bool completed;         // the disks had switched: the operation is finished
};

class SnapshotCrashTest : public ToolstackTest, public ::testing::WithParamInterface<CrashCase> {
protected:
    // Kills this run directory's domusd and waits until it is gone.
    nlohmann::json index(const std::string& disk) {
        std::ifstream in(disk + ".snapshots/index.json");
        return nlohmann::json::parse(in, nullptr, false);
    }

    // The image the monitor writes, as block-list shows it (backend `params`).
    std::string monitor_image() {
        auto r = domus({"block-list", "cs", "--json"});
        auto json = nlohmann::json::parse(r.out, nullptr, false);
        if (json.is_discarded() || !json.is_array() || json.empty())
            return "<none: " + r.out + r.err + ">";
        std::string params = json[0].value("params", "");
        return params.substr(params.find(':') + 1);
    }
};

// (Short test names: the run directory holds UNIX sockets, whose paths are short.)
TEST_P(SnapshotCrashTest, NextDaemonResolves) {
    const CrashCase& c = GetParam();
    auto info = domus({"info"});  // the daemon makes the run directory
    ASSERT_EQ(info.status, 0) << info.err;
    std::string disk = image("d.qcow2", "16M", "qcow2");
    ASSERT_EQ(
        domus({"create", idle_config("cs", "disk = [ '" + disk + ",qcow2,xvda,w' ]\n")}).status, 0);
    ASSERT_EQ(domus({"snapshot", "create", "cs", "base"}).status, 0);
    std::string before = monitor_image();
    ASSERT_EQ(index(disk).value("active", ""), before);

    // A daemon that dies at the crash point in the middle of the operation.
    kill_daemon();
    std::string name = std::string(c.operation) == "create" ? "s1" : "base";
    auto crashed = run_process({"/usr/bin/env", std::string("DOMUS_CRASH_POINT=") + c.point,
                                domus_binary(), "snapshot", c.operation, "cs", name},
                               std::chrono::seconds(60));
    EXPECT_NE(crashed.status, 0) << "the daemon did not reach " << c.point;
    // Killed mid-request, not refused: the command lost its daemon.
    EXPECT_NE(crashed.err.find("connection closed"), std::string::npos) << crashed.err;
    SCOPED_TRACE("the crashed command said: " + crashed.out + crashed.err);
    kill_daemon();  // gone already; makes sure

    // The next command's daemon recovers the domain and resolves the intent.
    auto list = domus({"snapshot", "list", "cs"});
    EXPECT_EQ(list.status, 0) << list.err;
    EXPECT_FALSE(std::filesystem::exists(run_dir_ + "/domains/1/snapshot-intent.json"));
    std::string now = monitor_image();
    EXPECT_EQ(index(disk).value("active", ""), now) << "the index and the monitor disagree";
    EXPECT_EQ(now != before, c.completed) << now;
    if (std::string(c.operation) == "create") {
        EXPECT_EQ(list.out.find("s1") != std::string::npos, c.completed) << list.out;
    }
    // Only the images the index knows of are left: nothing half-made stays behind.
    auto json = index(disk);
    std::set<std::string> known = {json.value("active", "")};
    for (const auto& s : json["snapshots"])
        known.insert(s.value("image", ""));
    for (const auto& file : std::filesystem::directory_iterator(disk + ".snapshots"))
        if (file.path().extension() == ".qcow2") {
            EXPECT_TRUE(known.count(file.path().string())) << file.path() << " is left over";
        }
    auto check = run_process({"/usr/bin/qemu-img", "check", "-U", now}, std::chrono::seconds(30));
    EXPECT_EQ(check.status, 0) << check.out << check.err;

    if (HasFailure()) {  // what the daemons and the monitor said, to tell why
        for (const std::string& log : {run_dir_ + "/domusd.log", run_dir_ + "/domains/1/vmm.log"}) {
            std::ifstream in(log);
            std::string text((std::istreambuf_iterator<char>(in)), {});
            ADD_FAILURE() << log << ":\n" << text;
        }
    }

    // Snapshots go on working.
    auto next = domus({"snapshot", "create", "cs", "after"});
    EXPECT_EQ(next.status, 0) << next.err;
    EXPECT_EQ(index(disk).value("active", ""), monitor_image());
}

INSTANTIATE_TEST_SUITE_P(Points, SnapshotCrashTest,
                         ::testing::Values(CrashCase{"snapshot-intent-written", "create", false},
                                           CrashCase{"snapshot-switched", "create", true},
                                           CrashCase{"snapshot-indexes-saved", "create", true},
                                           CrashCase{"snapshot-intent-written", "revert", false},
                                           CrashCase{"snapshot-switched", "revert", true}),
                         [](const auto& info) {
                             std::string name =
                                 std::string(info.param.operation) + "_" + info.param.point;
                             std::replace(name.begin(), name.end(), '-', '_');
                             return name;
                         });

}  // namespace
}  // namespace domus::test
