// The credit scheduler through domusd: weight, cap and cpus= from xl.cfg land in the
// domain's CPU cgroup and its vCPU threads' affinity; sched-credit and vcpu-pin change
// them live (and a restarted domusd keeps them); vcpu-list shows them; bad input is
// refused. Each test has its own cgroup parent (its run directory's), removed afterwards.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "toolstack/cgroup.hpp"
#include "toolstack_fixture.hpp"

namespace domus::test {
namespace {

namespace fs = std::filesystem;
using toolstack::CgroupVersion;

class SchedTest : public ToolstackTest {
protected:
    void SetUp() override {
        ToolstackTest::SetUp();
        if (IsSkipped()) return;
        auto mount = toolstack::detect_cpu_cgroup_mount();
        if (!mount) GTEST_SKIP() << "skipped: no cpu cgroup: " << mount.error().message;
        mount_ = *mount;
        // This run directory's own parent (domusd's default for it); the fixture's
        // TearDown removes it and any group a killed domusd left.
        parent_ = toolstack::default_cgroup_parent(run_dir_);
        two_cpus_ = std::thread::hardware_concurrency() >= 2;
    }

    std::string parent_dir() const { return mount_.root + "/" + parent_; }
    std::string group(int domid) const { return parent_dir() + "/dom" + std::to_string(domid); }
    std::string vcpu_group(int domid) const {
        return group(domid) + (mount_.version == CgroupVersion::V2 ? "/vcpus" : "");
    }

    static std::string read(const std::string& path) {
        std::ifstream in(path);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }

    // The domain's monitor (one domain per test while this is used).
    pid_t monitor() {
        for (pid_t pid : run_dir_processes())
            if (process_name(pid) == "domus-vmm") return pid;
        return 0;
    }

    // vCPU n's thread ID in `pid`, found by its name.
    static pid_t vcpu_tid(pid_t pid, int vcpu) {
        std::error_code error;
        for (const auto& task :
             fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", error)) {
            if (read(task.path() / "comm") == "vcpu" + std::to_string(vcpu) + "\n")
                return pid_t(std::stol(task.path().filename().string()));
        }
        return 0;
    }

    // Cpus_allowed_list of a thread of `pid`.
    static std::string allowed(pid_t pid, pid_t tid) {
        std::smatch m;
        std::string status =
            read("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/status");
        static const std::regex line(R"(Cpus_allowed_list:\s*(\S+))");
        return std::regex_search(status, m, line) ? m[1].str() : "";
    }

    // The weight and cap the domain's group holds, in Xen's terms.
    std::pair<std::string, std::string> weight_and_cap(int domid) {
        if (mount_.version == CgroupVersion::V1)
            return {read(group(domid) + "/cpu.shares"), read(group(domid) + "/cpu.cfs_quota_us")};
        return {read(group(domid) + "/cpu.weight"), read(vcpu_group(domid) + "/cpu.max")};
    }
    std::pair<std::string, std::string> expected(int weight, int cap) {
        if (mount_.version == CgroupVersion::V1)
            return {std::to_string(weight * 4) + "\n",
                    (cap ? std::to_string(cap * 1000) : "-1") + "\n"};
        return {std::to_string(weight * 100 / 256) + "\n",
                (cap ? std::to_string(cap * 1000) : "max") + " 100000\n"};
    }

    bool in_group(int domid, pid_t tid) {
        std::string file = mount_.version == CgroupVersion::V1 ? "/tasks" : "/cgroup.threads";
        std::istringstream tids(read(vcpu_group(domid) + file));
        for (std::string t; tids >> t;)
            if (t == std::to_string(tid)) return true;
        return false;
    }

    std::string sched_config(const std::string& extra) {
        return idle_config("s", "vcpus = 2\n" + extra);
    }

    toolstack::CpuCgroupMount mount_;
    std::string parent_;
    bool two_cpus_ = false;
};

TEST_F(SchedTest, WeightCapAndCpusFromTheConfigApply) {
    std::string second = two_cpus_ ? "1" : "0";
    auto created = domus(
        {"create", sched_config("weight = 512\ncap = 50\ncpus = [\"0\", \"" + second + "\"]\n")});
    ASSERT_EQ(created.status, 0) << created.err;
    EXPECT_EQ(weight_and_cap(1), expected(512, 50));
    if (mount_.version == CgroupVersion::V1) {
        EXPECT_EQ(read(group(1) + "/cpu.cfs_period_us"), "100000\n");
    }
    pid_t pid = monitor();
    ASSERT_GT(pid, 0);
    for (int vcpu : {0, 1}) {
        pid_t tid = vcpu_tid(pid, vcpu);
        ASSERT_GT(tid, 0) << "vcpu" << vcpu;
        // They join the group just after the create (off its path: daemon_sched.cpp).
        EXPECT_TRUE(eventually([&] { return in_group(1, tid); })) << "vcpu" << vcpu;
        EXPECT_EQ(allowed(pid, tid), vcpu == 0 ? "0" : second);
    }
    // Only the vCPUs (v1): the monitor's main thread stays outside.
    if (mount_.version == CgroupVersion::V1) {
        EXPECT_FALSE(in_group(1, pid));
    }
    auto listed = domus({"sched-credit"});
    EXPECT_EQ(listed.status, 0) << listed.err;
    EXPECT_TRUE(std::regex_search(listed.out, std::regex(R"(\ns\s+1\s+512\s+50\n)"))) << listed.out;
    EXPECT_TRUE(std::regex_search(listed.out, std::regex(R"(Domain-0\s+0\s+256\s+0\n)")))
        << listed.out;
    // Destroying the domain removes its group.
    ASSERT_EQ(domus({"destroy", "s"}).status, 0);
    EXPECT_FALSE(fs::exists(group(1)));
}

TEST_F(SchedTest, SchedCreditAndVcpuPinChangeThemLiveAndARestartedDaemonKeepsThem) {
    ASSERT_EQ(domus({"create", sched_config("")}).status, 0);
    EXPECT_EQ(weight_and_cap(1), expected(256, 0));  // xl's defaults
    auto set = domus({"sched-credit", "-d", "s", "-w", "1024", "-c", "150"});
    ASSERT_EQ(set.status, 0) << set.err;
    EXPECT_EQ(weight_and_cap(1), expected(1024, 150));
    auto shown = domus({"sched-credit", "-d", "s"});
    EXPECT_TRUE(std::regex_search(shown.out, std::regex(R"(\ns\s+1\s+1024\s+150\n)"))) << shown.out;

    std::string target = two_cpus_ ? "1" : "0";
    ASSERT_EQ(domus({"vcpu-pin", "s", "all", target}).status, 0);
    pid_t pid = monitor();
    for (int vcpu : {0, 1})
        EXPECT_EQ(allowed(pid, vcpu_tid(pid, vcpu)), target) << "vcpu" << vcpu;
    ASSERT_EQ(domus({"vcpu-pin", "s", "0", "all"}).status, 0);
    EXPECT_EQ(allowed(pid, vcpu_tid(pid, 0)),
              two_cpus_ ? "0-" + std::to_string(std::thread::hardware_concurrency() - 1) : "0");
    EXPECT_EQ(allowed(pid, vcpu_tid(pid, 1)), target);

    auto list = domus({"vcpu-list", "s"});
    ASSERT_EQ(list.status, 0) << list.err;
    EXPECT_NE(list.out.find("Name"), std::string::npos);
    EXPECT_TRUE(std::regex_search(
        list.out, std::regex(R"(\ns\s+1\s+0\s+\d+\s+[-rb][-rb]-\s+\d+\.\d\s+all\n)")))
        << list.out;
    EXPECT_TRUE(std::regex_search(
        list.out, std::regex(R"(\ns\s+1\s+1\s+\d+\s+[-rb][-rb]-\s+\d+\.\d\s+)" + target + "\n")))
        << list.out;

    // A new daemon finds the domain, its group and its settings again.
    EXPECT_EQ(kill_daemon(), 1u);
    auto again = domus({"sched-credit", "-d", "s"});
    EXPECT_TRUE(std::regex_search(again.out, std::regex(R"(\ns\s+1\s+1024\s+150\n)")))
        << again.out << again.err;
    EXPECT_EQ(weight_and_cap(1), expected(1024, 150));
    EXPECT_EQ(allowed(pid, vcpu_tid(pid, 1)), target);
    EXPECT_TRUE(eventually([&] { return in_group(1, vcpu_tid(pid, 0)); }));
    ASSERT_EQ(domus({"destroy", "s"}).status, 0);
    EXPECT_FALSE(fs::exists(group(1)));
}

TEST_F(SchedTest, ARestartOnRebootKeepsWeightCapAndPinning) {
    ASSERT_EQ(domus({"create", sched_config("on_reboot = \"restart\"\nweight = 128\n")}).status, 0);
    ASSERT_EQ(domus({"sched-credit", "-d", "s", "-c", "30"}).status, 0);
    ASSERT_EQ(domus({"vcpu-pin", "s", "1", "0"}).status, 0);
    ASSERT_EQ(domus({"reboot", "-w", "s"}).status, 0);
    ASSERT_TRUE(eventually([&] { return domus({"domid", "s"}).out == "2\n"; }));
    EXPECT_EQ(weight_and_cap(2), expected(128, 30));
    pid_t pid = monitor();
    EXPECT_EQ(allowed(pid, vcpu_tid(pid, 1)), "0");
    EXPECT_TRUE(eventually([&] { return in_group(2, vcpu_tid(pid, 1)); }));
    EXPECT_TRUE(eventually([&] { return !fs::exists(group(1)); }));
}

TEST_F(SchedTest, OfflineVcpusAreListedAsXlDoesAndTheirThreadsArePlacedToo) {
    ASSERT_EQ(domus({"create", idle_config("h", "vcpus = 1\nmaxvcpus = 2\ncpus = \"0\"\n")}).status,
              0);
    // vCPU 1 is offline: xl's "-" and "--p"; its parked thread is pinned and grouped.
    auto list = domus({"vcpu-list", "h"});
    EXPECT_TRUE(std::regex_search(list.out, std::regex(R"(\nh\s+1\s+1\s+-\s+--p\s+\d+\.\d\s+0\n)")))
        << list.out;
    pid_t pid = monitor();
    pid_t parked = vcpu_tid(pid, 1);
    ASSERT_GT(parked, 0);
    EXPECT_EQ(allowed(pid, parked), "0");
    EXPECT_TRUE(eventually([&] { return in_group(1, parked); }));
    // Brought up, it is listed as running or blocked on a CPU.
    ASSERT_EQ(domus({"vcpu-set", "h", "2"}).status, 0);
    EXPECT_TRUE(eventually([&] {
        return std::regex_search(domus({"vcpu-list", "h"}).out,
                                 std::regex(R"(\nh\s+1\s+1\s+\d+\s+[-rb][-rb]-\s+\d+\.\d\s+0\n)"));
    })) << domus({"vcpu-list", "h"}).out;
}

TEST_F(SchedTest, BadInputIsRefusedWithClearErrors) {
    auto weight0 = domus({"create", sched_config("weight = 0\n")});
    EXPECT_NE(weight0.status, 0);
    EXPECT_NE(weight0.err.find("weight: 0 is out of range 1..65535"), std::string::npos)
        << weight0.err;
    auto cpu99 = domus({"create", sched_config("cpus = \"999\"\n")});
    EXPECT_NE(cpu99.status, 0);
    EXPECT_NE(cpu99.err.find("cpus: \"999\": CPU 999 does not exist"), std::string::npos)
        << cpu99.err;
    ASSERT_EQ(domus({"create", sched_config("")}).status, 0);
    struct Case {
        std::vector<std::string> args;
        std::string error;
    };
    for (const Case& c : std::vector<Case>{
             {{"sched-credit", "-d", "s", "-w", "0"}, "weight 0 is out of range 1..65535"},
             {{"sched-credit", "-d", "s", "-w", "70000"}, "weight 70000 is out of range 1..65535"},
             {{"sched-credit", "-d", "s", "-c", "-1"}, "cap -1 is out of range 0..200"},
             {{"sched-credit", "-d", "nope"}, "no domain \"nope\""},
             {{"sched-credit", "-w", "300"}, "needs a domain (-d)"},
             {{"vcpu-pin", "s", "0", "999"}, "CPU 999 does not exist"},
             {{"vcpu-pin", "s", "7", "0"}, "domain s has no vCPU 7 (it has 0-1)"},
             {{"vcpu-pin", "s", "x", "0"}, "\"x\" is not a vCPU number or \"all\""},
             {{"vcpu-pin", "nope", "0", "0"}, "no domain \"nope\""},
             {{"vcpu-list", "nope"}, "no domain \"nope\""},
         }) {
        auto r = domus(c.args);
        EXPECT_NE(r.status, 0) << c.args[0];
        EXPECT_NE(r.err.find(c.error), std::string::npos) << c.args[0] << ": " << r.err;
    }
    EXPECT_EQ(weight_and_cap(1), expected(256, 0));  // nothing changed
}

}  // namespace
}  // namespace domus::test
