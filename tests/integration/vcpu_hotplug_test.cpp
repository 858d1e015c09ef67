// vCPU hot-plug through domusd: `domus vcpu-set` as a user runs it, the guest's kernel
// following its cpu/<n>/availability nodes while vcpu_test keeps every online vCPU busy
// (its rounds join every worker, so a thread stranded on an offline vCPU stops them),
// the monitor's vcpu_list, and a domain with 64 vCPUs on this small host.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "toolstack_fixture.hpp"

namespace domus::test {
namespace {

struct Round {
    long number = -1;
    unsigned online = 0;
    std::uint64_t mask = 0, ran = 0;
};

class VcpuHotplugTest : public ToolstackTest {
protected:
    void SetUp() override {
        ToolstackTest::SetUp();
        if (IsSkipped()) return;
        ASSERT_EQ(domus({"info"}).status, 0);
    }

    void create(const std::string& name, const std::string& extra) {
        std::string cfg = config(name, "name = \"" + name + "\"\nkernel = \"" +
                                           guest_image("vcpu_test") + "\"\nmemory = 64\n" + extra);
        auto r = domus({"create", cfg});
        ASSERT_EQ(r.status, 0) << r.err;
    }

    std::string report() {
        auto r =
            xenstore("xenstore-read", {"/local/domain/" + std::to_string(domid_) + "/data/vcpus"});
        return r.status == 0 ? r.out : "";
    }

    // The guest's last finished round (number -1: none yet).
    Round last_round() {
        Round round;
        std::string text = report();
        unsigned long long mask = 0, ran = 0;
        if (std::sscanf(text.c_str(), "round=%ld online=%u mask=%llx ran=%llx", &round.number,
                        &round.online, &mask, &ran) == 4) {
            round.mask = mask;
            round.ran = ran;
        } else {
            round.number = -1;
        }
        return round;
    }

    // Waits for a round that started after round `after` and ran with `online` vCPUs, all
    // of them (and only them) doing work.
    bool round_with(unsigned online, long after,
                    std::chrono::seconds limit = std::chrono::seconds(20)) {
        std::uint64_t all = online == 64 ? ~0ull : (1ull << online) - 1;
        return eventually(
            [&] {
                Round r = last_round();
                return r.number > after + 1 && r.online == online && r.mask == all && r.ran == all;
            },
            limit);
    }

    // The monitor's own `info` (its control socket, as domusd asks it).
    nlohmann::json monitor_info() {
        std::string path = run_dir_ + "/domains/" + std::to_string(domid_) + "/control";
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::copy(path.begin(), path.end(), address.sun_path);
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return {};
        std::string reply;
        if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
            ::send(fd, "{\"op\":\"info\"}\n", 14, MSG_NOSIGNAL) == 14) {
            char c;
            while (::recv(fd, &c, 1, 0) == 1 && c != '\n')
                reply.push_back(c);
        }
        ::close(fd);
        auto json = nlohmann::json::parse(reply, nullptr, false);
        return json.is_discarded() ? nlohmann::json{} : json;
    }

    std::vector<bool> monitor_online() {
        std::vector<bool> online;
        auto info = monitor_info();
        for (const auto& v : info.value("vcpu_list", nlohmann::json::array()))
            online.push_back(v.value("online", false));
        return online;
    }

    // Nanoseconds the host thread has run (schedstat), -1 if unknown.
    static long long thread_cpu_ns(int pid, int tid) {
        std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) +
                         "/schedstat");
        long long ns = -1;
        in >> ns;
        return ns;
    }

    int domid_ = 1;
};

TEST_F(VcpuHotplugTest, UnplugUnderLoadStrandsNothingAndPlugRunsWorkAgain) {
    create("hv", "vcpus = 2\nmaxvcpus = 4\n");
    ASSERT_TRUE(round_with(2, -1)) << report();
    // The slots: 4, the first two up, each its own host thread.
    auto info = monitor_info();
    ASSERT_EQ(info["vcpu_list"].size(), 4u) << info.dump();
    EXPECT_EQ(info["vcpus"], 2);
    for (unsigned i = 0; i < 4; ++i) {
        EXPECT_EQ(info["vcpu_list"][i]["vcpu"], i);
        EXPECT_EQ(info["vcpu_list"][i]["online"], i < 2);
        EXPECT_GT(info["vcpu_list"][i]["tid"].get<int>(), 0);
    }
    EXPECT_EQ(xenstore("xenstore-read", {"/local/domain/1/cpu/3/availability"}).out, "offline\n");

    ASSERT_EQ(domus({"vcpu-set", "hv", "4"}).status, 0);
    ASSERT_TRUE(round_with(4, last_round().number)) << report();

    // Down to one while the rounds run: every worker still finishes.
    auto r = domus({"vcpu-set", "hv", "1"});
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_TRUE(eventually([&] {
        return monitor_online() == std::vector<bool>{1, 0, 0, 0};
    })) << monitor_info().dump();
    ASSERT_TRUE(round_with(1, last_round().number)) << report();
    ASSERT_TRUE(round_with(1, last_round().number)) << report();
    EXPECT_NE(report().find("max=4 nproc=1/4"), std::string::npos) << report();
    info = monitor_info();
    EXPECT_EQ(info["vcpus"], 1);
    // Parked host threads use no CPU (the one left keeps running the load).
    int pid = info["pid"];
    std::vector<long long> before;
    for (unsigned i = 1; i < 4; ++i)
        before.push_back(thread_cpu_ns(pid, info["vcpu_list"][i]["tid"]));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a span to measure over
    for (unsigned i = 1; i < 4; ++i) {
        long long after = thread_cpu_ns(pid, info["vcpu_list"][i]["tid"]);
        EXPECT_LT(after - before[i - 1], 2'000'000) << "vcpu" << i;
    }

    // Back up: the same vCPUs run work again.
    ASSERT_EQ(domus({"vcpu-set", "hv", "3"}).status, 0);
    ASSERT_TRUE(round_with(3, last_round().number)) << report();
    EXPECT_TRUE(eventually([&] { return monitor_online() == std::vector<bool>{1, 1, 1, 0}; }));
    ASSERT_EQ(domus({"vcpu-set", "hv", "2"}).status, 0);
    ASSERT_EQ(domus({"vcpu-set", "hv", "4"}).status, 0);
    ASSERT_TRUE(round_with(4, last_round().number)) << report();
    // Sleepers on the vCPUs that went away slept again elsewhere, to their deadline.
    EXPECT_NE(report().find("early=0"), std::string::npos) << report();
    // `domus list` shows the vCPUs online now, and domusd recorded the count.
    auto rows = nlohmann::json::parse(domus({"list", "--json"}).out, nullptr, false);
    ASSERT_TRUE(rows.is_array()) << rows;
    auto hv = std::find_if(rows.begin(), rows.end(), [](auto& row) { return row["name"] == "hv"; });
    ASSERT_NE(hv, rows.end());
    EXPECT_EQ((*hv)["vcpus"], 4);
    std::ifstream record(run_dir_ + "/domains/1/record.json");
    auto saved = nlohmann::json::parse(record, nullptr, false);
    EXPECT_NE(saved.value("config", "").find("vcpus = 4"), std::string::npos) << saved;
}

TEST_F(VcpuHotplugTest, QuickChangesUnderLoadSettleOnTheLastCount) {
    // Requests faster than the guest follows them: vCPUs asked back while still going
    // down, or down while still coming up. The guest ends at the last count, working.
    create("hv", "vcpus = 4\nmaxvcpus = 4\nextra = \"work_ms=5\"\n");
    ASSERT_TRUE(round_with(4, -1)) << report();
    for (int i = 0; i < 12; ++i)
        ASSERT_EQ(domus({"vcpu-set", "hv", std::to_string(1 + (i * 7) % 4)}).status, 0) << i;
    ASSERT_EQ(domus({"vcpu-set", "hv", "2"}).status, 0);
    ASSERT_TRUE(round_with(2, last_round().number)) << report();
    EXPECT_TRUE(eventually([&] {
        return monitor_online() == std::vector<bool>{1, 1, 0, 0};
    })) << monitor_info().dump();
}

TEST_F(VcpuHotplugTest, ARestartKeepsTheCount) {
    create("hv", "vcpus = 1\nmaxvcpus = 3\non_reboot = \"restart\"\n");
    ASSERT_TRUE(round_with(1, -1)) << report();
    ASSERT_EQ(domus({"vcpu-set", "hv", "3"}).status, 0);
    ASSERT_TRUE(round_with(3, last_round().number)) << report();
    ASSERT_EQ(domus({"reboot", "hv"}).status, 0);
    domid_ = 2;  // a restart comes back under a new ID, as in xl
    ASSERT_TRUE(round_with(3, -1)) << report();
    EXPECT_EQ(xenstore("xenstore-read", {"/local/domain/2/cpu/2/availability"}).out, "online\n");
}

TEST_F(VcpuHotplugTest, BadCountsAreRefusedAndVcpuZeroStaysOnline) {
    create("hv", "vcpus = 2\nmaxvcpus = 4\n");
    ASSERT_TRUE(round_with(2, -1)) << report();
    auto r = domus({"vcpu-set", "hv", "0"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("vCPU 0"), std::string::npos) << r.err;
    r = domus({"vcpu-set", "hv", "5"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("maxvcpus = 4"), std::string::npos) << r.err;
    EXPECT_NE(domus({"vcpu-set", "nosuch", "1"}).status, 0);
    EXPECT_EQ(xenstore("xenstore-read", {"/local/domain/1/cpu/1/availability"}).out, "online\n");
    // Written behind the toolstack's back: the guest refuses to take vCPU 0 down.
    ASSERT_EQ(xenstore("xenstore-write", {"/local/domain/1/cpu/0/availability", "offline"}).status,
              0);
    long now = last_round().number;
    ASSERT_TRUE(round_with(2, now + 1)) << report();
    EXPECT_EQ(monitor_online(), (std::vector<bool>{1, 1, 0, 0}));
    // The guest may read its nodes but not write them (the home's permissions, as libxl).
    auto perms = xenstore("xenstore-ls", {"-p", "/local/domain/1/cpu"});
    EXPECT_NE(perms.out.find("n0,r1"), std::string::npos) << perms.out;
}

TEST_F(VcpuHotplugTest, SixtyFourVcpusBootAndAllRunWork) {
    auto start = std::chrono::steady_clock::now();
    create("big", "vcpus = 64\nextra = \"work_ms=5\"\n");
    ASSERT_TRUE(round_with(64, -1, std::chrono::seconds(30))) << report();
    auto took = std::chrono::steady_clock::now() - start;
    auto info = monitor_info();
    EXPECT_EQ(info["vcpus"], 64);
    EXPECT_EQ(info["vcpu_list"].size(), 64u);
    EXPECT_NE(report().find("max=64 nproc=64/64"), std::string::npos) << report();
    std::printf("64 vCPUs: first round done %lld ms after create\n",
                (long long)std::chrono::duration_cast<std::chrono::milliseconds>(took).count());
}

}  // namespace
}  // namespace domus::test
