// XenbusDevice against a fake host and an in-memory store: the common keys published in
// one transaction, the backend following the frontend's states, hot-unplug, teardown,
// and the frontend's numeric keys parsed digits-only.
#include "backends/xenbus_device.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <domus/abi/blkif.h>  // enum xenbus_state

#include "memory_store.hpp"

namespace domus::backends {
namespace {

using fakes::MemoryStore;

// One page of the test's own, "mapped" while in use.
struct Page final : MappedPages {
    alignas(4096) std::byte bytes[4096] = {};
    bool mapped = false;
    std::size_t size() const noexcept override { return mapped ? 1 : 0; }
    std::span<std::byte> page(std::size_t) const noexcept override {
        return std::span<std::byte>(const_cast<std::byte*>(bytes), sizeof bytes);
    }
    void release() noexcept override { mapped = false; }
};

class FakeHost final : public BackendHost {
public:
    explicit FakeHost(MemoryStore& store) : store_(store) {}
    domid_t frontend_id() const noexcept override { return 7; }
    Result<void> map_grants(std::span<const grant_ref_t> refs, bool,
                            std::unique_ptr<MappedPages>& pages) override {
        if (refs.size() != 1 || refs[0] != 8) return make_error("bad gref {}", refs[0]);
        if (!pages) pages = std::make_unique<Page>();
        static_cast<Page&>(*pages).mapped = true;
        return {};
    }
    void notify_frontend() override {}
    Result<void> bind_frontend(evtchn_port_t port, int) override {
        if (port != 5) return make_error("port {} not offered", port);
        bound = true;
        return {};
    }
    void unbind_frontend() noexcept override { bound = false; }
    XenbusStore& store() override { return store_; }
    std::atomic<bool> bound = false;

private:
    MemoryStore& store_;
};

// A device whose connect maps the frontend's ring-ref and binds its port.
class TestDevice final : public XenbusDevice {
public:
    TestDevice(std::unique_ptr<BackendHost> host)
        : XenbusDevice(std::move(host), "vtest", 3, "t3") {}
    ~TestDevice() override { stop(); }
    std::atomic<int> connects = 0, disconnects = 0;
    bool ring_mapped() {
        bool mapped = false;
        (void)run_on_thread([&] {
            mapped = pages_ && pages_->size() == 1;
            return Result<void>();
        });
        return mapped;
    }

    // Waits (bounded) until `done` holds; the device thread changes what it looks at.
    template <class F>
    bool wait_for(F done) {
        for (int i = 0; i < 5000 && !done(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return done();
    }

private:
    Result<void> publish_keys(XenbusTransaction& t) override {
        return t.write(backend_dir() + "/feature-test", "1");
    }
    Result<void> connect() override {
        DOMUS_TRY_VOID(take_ring("ring-ref", "port", -1, pages_));
        ++connects;
        return {};
    }
    void disconnect() override {
        pages_->release();
        ++disconnects;
    }
    std::size_t device_fds(std::span<pollfd, kMaxDeviceFds> fds) override {
        fds[0] = {frozen ? -1 : doorbell.get(), POLLIN, 0};
        if (hold_in_fds.exchange(false)) {
            std::unique_lock lock(hold_mutex);
            held = true;
            hold_changed.notify_all();
            hold_changed.wait(lock, [&] { return !held; });
        }
        return 1;
    }
    void device_ready(std::span<const pollfd> fds) override {
        if (!(fds[0].revents & POLLIN)) return;
        std::uint64_t value;
        [[maybe_unused]] auto n = ::read(doorbell.get(), &value, sizeof(value));
        ++(frozen ? served_while_frozen : served);
    }

public:
    // A doorbell the device serves unless frozen (as a prepared image swap freezes a vbd).
    Fd doorbell{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
    bool frozen = false;  // device thread only
    std::atomic<int> served = 0, served_while_frozen = 0;
    // Set: the next device_fds() stops, its fds filled in, until release_fds().
    std::atomic<bool> hold_in_fds = false;
    std::mutex hold_mutex;
    std::condition_variable hold_changed;
    bool held = false;
    void wait_held() {
        std::unique_lock lock(hold_mutex);
        hold_changed.wait(lock, [&] { return held; });
    }
    void release_fds() {
        std::lock_guard lock(hold_mutex);
        held = false;
        hold_changed.notify_all();
    }

private:
    std::unique_ptr<MappedPages> pages_;
};

constexpr const char* kFront = "/local/domain/7/device/vtest/3";
constexpr const char* kBack = "/local/domain/0/backend/vtest/7/3";

struct XenbusDeviceTest : ::testing::Test {
    MemoryStore store;
    FakeHost* host = nullptr;
    std::unique_ptr<TestDevice> device;

    void SetUp() override {
        auto owned = std::make_unique<FakeHost>(store);
        host = owned.get();
        device = std::make_unique<TestDevice>(std::move(owned));
        ASSERT_TRUE(device->publish());
        device->start();
    }
    std::string state() { return store.get(std::string(kBack) + "/state"); }
    void frontend(const std::string& key, const std::string& value) {
        ASSERT_TRUE(store.write(std::string(kFront) + "/" + key, value));
    }
};

TEST_F(XenbusDeviceTest, PublishesBothDirectoriesInOneTransaction) {
    EXPECT_EQ(store.transactions, 1);
    EXPECT_EQ(store.get(std::string(kBack) + "/frontend"), kFront);
    EXPECT_EQ(store.get(std::string(kBack) + "/frontend-id"), "7");
    EXPECT_EQ(store.get(std::string(kBack) + "/online"), "1");
    EXPECT_EQ(store.get(std::string(kBack) + "/feature-test"), "1");
    EXPECT_EQ(store.get(std::string(kFront) + "/backend"), kBack);
    EXPECT_EQ(store.get(std::string(kFront) + "/backend-id"), "0");
    EXPECT_EQ(state(), std::to_string(XenbusStateInitWait));
}

TEST_F(XenbusDeviceTest, ConnectsFollowsClosingAndWaitsForTheNextFrontend) {
    frontend("ring-ref", "8");
    frontend("port", "5");
    frontend("state", std::to_string(XenbusStateInitialised));
    ASSERT_TRUE(device->wait_for([&] { return state() == std::to_string(XenbusStateConnected); }));
    EXPECT_EQ(device->connects, 1);
    EXPECT_TRUE(host->bound);
    frontend("state", std::to_string(XenbusStateClosing));
    ASSERT_TRUE(device->wait_for([&] { return state() == std::to_string(XenbusStateClosing); }));
    EXPECT_EQ(device->disconnects, 1);
    EXPECT_FALSE(host->bound);
    frontend("state", std::to_string(XenbusStateClosed));
    ASSERT_TRUE(device->wait_for([&] { return state() == std::to_string(XenbusStateInitWait); }));
    frontend("state", std::to_string(XenbusStateConnected));  // a new frontend
    ASSERT_TRUE(device->wait_for([&] { return state() == std::to_string(XenbusStateConnected); }));
    EXPECT_EQ(device->connects, 2);
}

TEST_F(XenbusDeviceTest, AFrontendWithBadKeysGetsClosingAndKeepsNothingBound) {
    frontend("ring-ref", "8");
    frontend("port", "9");  // not offered: the binding is refused
    frontend("state", std::to_string(XenbusStateInitialised));
    ASSERT_TRUE(device->wait_for([&] { return state() == std::to_string(XenbusStateClosing); }));
    EXPECT_EQ(device->connects, 0);
    EXPECT_FALSE(host->bound);
    EXPECT_FALSE(device->ring_mapped());  // the ring it had mapped was let go
}

TEST_F(XenbusDeviceTest, DetachReleasesAnIdleDeviceAndNeverReconnects) {
    ASSERT_TRUE(device->begin_detach());
    EXPECT_TRUE(device->released());
    EXPECT_EQ(store.get(std::string(kBack) + "/online"), "0");
    EXPECT_EQ(state(), std::to_string(XenbusStateClosed));
    frontend("ring-ref", "8");
    frontend("port", "5");
    frontend("state", std::to_string(XenbusStateInitialised));
    ASSERT_TRUE(device->run_on_thread([] { return Result<void>(); }));  // events handled
    EXPECT_EQ(device->connects, 0);
}

TEST_F(XenbusDeviceTest, DetachWaitsForAConnectedFrontendToClose) {
    frontend("ring-ref", "8");
    frontend("port", "5");
    frontend("state", std::to_string(XenbusStateConnected));
    ASSERT_TRUE(device->wait_for([&] { return host->bound.load(); }));
    ASSERT_TRUE(device->begin_detach());
    EXPECT_FALSE(device->released());
    frontend("state", std::to_string(XenbusStateClosing));
    ASSERT_TRUE(device->wait_for([&] { return !host->bound.load(); }));
    frontend("state", std::to_string(XenbusStateClosed));
    ASSERT_TRUE(device->wait_for([&] { return device->released(); }));
}

// A task that changes what the device serves (a vbd's prepared swap) and a doorbell seen
// by the same poll: the doorbell must not be served by what the task just froze.
TEST_F(XenbusDeviceTest, ADoorbellSeenBeforeATaskIsNotServedAfterItFroze) {
    device->hold_in_fds = true;
    std::thread nudge([&] { (void)device->run_on_thread([] { return Result<void>(); }); });
    device->wait_held();  // a pass, its fds taken with the doorbell in (not frozen yet)
    std::uint64_t one = 1;
    ASSERT_EQ(::write(device->doorbell.get(), &one, sizeof(one)), ssize_t(sizeof(one)));
    std::atomic<pid_t> tid = 0;
    std::thread freezer([&] {
        tid = ::gettid();
        (void)device->run_on_thread([&] {
            device->frozen = true;
            return Result<void>();
        });
    });
    // The freezer has queued its task once it sleeps waiting for the answer.
    auto sleeping = [&] {
        if (tid == 0) return false;
        std::ifstream stat("/proc/self/task/" + std::to_string(tid) + "/stat");
        std::string text((std::istreambuf_iterator<char>(stat)), {});
        auto close = text.rfind(')');
        return close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'S';
    };
    ASSERT_TRUE(device->wait_for(sleeping));
    device->release_fds();  // one poll now sees the doorbell and the task together
    freezer.join();
    nudge.join();
    ASSERT_TRUE(device->run_on_thread([] { return Result<void>(); }));  // a few more passes
    EXPECT_EQ(device->served_while_frozen, 0);
    EXPECT_EQ(device->served, 0);  // it waits for the unfreeze
}

TEST_F(XenbusDeviceTest, TeardownRemovesBothDirectories) {
    device.reset();
    EXPECT_EQ(store.get(std::string(kBack) + "/state"), "<none>");
    EXPECT_EQ(store.get(std::string(kFront) + "/backend"), "<none>");
}

TEST(ParseFrontendU32, TakesDigitsOnly) {
    EXPECT_EQ(*parse_frontend_u32("0", "k"), 0u);
    EXPECT_EQ(*parse_frontend_u32("4294967295", "k"), 4294967295u);
    for (const char* bad : {"", " 1", "+1", "-1", "1x", "4294967296", "99999999999", "0x10"})
        EXPECT_FALSE(parse_frontend_u32(bad, "k")) << bad;
}

}  // namespace
}  // namespace domus::backends
