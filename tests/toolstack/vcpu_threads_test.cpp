// Tests for toolstack/vcpu_threads: the monitor's vcpu_list preferred, threads found by
// name otherwise, /proc stat fields, and affinity round trips on a thread of our own.
#include "toolstack/vcpu_threads.hpp"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <thread>

namespace domus::toolstack {
namespace {

// A thread named like a vCPU thread, parked until the test ends.
class NamedThread {
public:
    explicit NamedThread(const char* name) {
        thread_ = std::thread([this, name] {
            ::pthread_setname_np(::pthread_self(), name);
            tid_.store(pid_t(::syscall(SYS_gettid)));
            while (!stop_.load())
                std::this_thread::yield();
        });
        while (tid_.load() == 0)
            std::this_thread::yield();
    }
    ~NamedThread() {
        stop_.store(true);
        thread_.join();
    }
    pid_t tid() const { return tid_.load(); }

private:
    std::atomic<pid_t> tid_{0};
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

TEST(VcpuThreads, TheMonitorsVcpuListIsPreferred) {
    NamedThread named("vcpu0");  // ignored: the list says what is what
    nlohmann::json info = {{"vcpu_list",
                            {{{"vcpu", 1}, {"online", false}, {"tid", 0}},
                             {{"vcpu", 0}, {"online", true}, {"tid", 4242}}}}};
    auto threads = find_vcpu_threads(::getpid(), info);
    ASSERT_EQ(threads.size(), 2u);
    EXPECT_EQ(threads[0].vcpu, 0u);  // sorted by vCPU
    EXPECT_EQ(threads[0].tid, 4242);
    EXPECT_TRUE(threads[0].online);
    EXPECT_EQ(threads[1].vcpu, 1u);
    EXPECT_EQ(threads[1].tid, 0);
    EXPECT_FALSE(threads[1].online);
}

TEST(VcpuThreads, WithoutAListThreadsAreFoundByName) {
    NamedThread three("vcpu3"), one("vcpu1"), other("vcpuX"), busy("vcpu12x");
    auto threads = find_vcpu_threads(::getpid(), nlohmann::json::object());
    ASSERT_EQ(threads.size(), 2u);
    EXPECT_EQ(threads[0].vcpu, 1u);
    EXPECT_EQ(threads[0].tid, one.tid());
    EXPECT_EQ(threads[1].vcpu, 3u);
    EXPECT_EQ(threads[1].tid, three.tid());
    EXPECT_TRUE(threads[1].online);
}

TEST(VcpuThreads, StatFieldsAfterTheCommandName) {
    // A name with a space and a ')' of its own; utime 250 and stime 50 ticks; CPU 1.
    std::string stat =
        "123 (a b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 100 0 0 0 0 0 0 "
        "0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
    auto parsed = parse_task_stat(stat, 100);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->state, 'S');
    EXPECT_DOUBLE_EQ(parsed->seconds, 3.0);
    EXPECT_EQ(parsed->cpu, 1);
    EXPECT_FALSE(parse_task_stat("123 (short) S 1 2", 100));
    EXPECT_FALSE(parse_task_stat("no parenthesis", 100));
    auto own = read_task_stat(::getpid(), pid_t(::syscall(SYS_gettid)));
    ASSERT_TRUE(own);
    EXPECT_EQ(own->state, 'R');  // reading its own stat, it runs
    EXPECT_GE(own->cpu, 0);
}

TEST(VcpuThreads, AffinityRoundTrips) {
    NamedThread thread("vcpu0");
    ASSERT_TRUE(set_thread_affinity(thread.tid(), {0}));
    auto cpus = thread_affinity(thread.tid());
    ASSERT_TRUE(cpus) << cpus.error().message;
    EXPECT_EQ(*cpus, std::vector<unsigned>{0});
    auto gone = set_thread_affinity(0x7ffffff0, {0});
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().message, "sched_setaffinity of thread 2147483632: No such process");
}

}  // namespace
}  // namespace domus::toolstack
