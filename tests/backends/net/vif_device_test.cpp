// VifDevice in a network namespace of the test's own, against an in-memory store and fake
// grants: libxl's and netback's keys, the TAP made with the device, the frontend's
// connection (rx-copy required), and a packet from the guest's TX ring reaching a host
// socket and one from the host reaching its RX ring.
#include "backends/net/vif_device.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "../block/fake_data_path_host.hpp"
#include "../memory_store.hpp"

#include <domus/abi/blkif.h>  // enum xenbus_state

namespace domus::backends {
namespace {

constexpr const char* kFront = "/local/domain/7/device/vif/0";
constexpr const char* kBack = "/local/domain/0/backend/vif/7/0";
constexpr grant_ref_t kTx = 0, kRx = 1, kData = 2;

class Host final : public BackendHost {
public:
    Host(fakes::MemoryStore& store, fakes::FakeDataPathHost& grants)
        : store_(store), grants_(grants) {}
    domid_t frontend_id() const noexcept override { return 7; }
    Result<void> map_grants(std::span<const grant_ref_t> refs, bool writable,
                            std::unique_ptr<MappedPages>& pages) override {
        return grants_.map_grants(refs, writable, pages);
    }
    void notify_frontend() override { ++notifications; }
    Result<void> bind_frontend(evtchn_port_t port, int doorbell_fd) override {
        if (port != 5) return make_error("port {} not offered", port);
        doorbell = doorbell_fd;
        return {};
    }
    void unbind_frontend() noexcept override { doorbell = -1; }
    XenbusStore& store() override { return store_; }
    std::atomic<int> doorbell{-1};
    std::atomic<int> notifications{0};

private:
    fakes::MemoryStore& store_;
    fakes::FakeDataPathHost& grants_;
};

template <class F>
bool eventually(F done) {
    for (int i = 0; i < 5000 && !done(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return done();
}

class VifDeviceTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (::unshare(CLONE_NEWNET) != 0) GTEST_SKIP() << "no network namespace: " << errno;
        // No IPv6 on the new links: its neighbour discovery would add frames of its own.
        std::ofstream("/proc/sys/net/ipv6/conf/default/disable_ipv6") << "1";
        config_.devid = 0;
        config_.mac = {0x00, 0x16, 0x3e, 0x11, 0x22, 0x33};
        config_.ifname = "vif7.0";
        config_.bridge = "xenbr0";
        config_.mtu = 1500;
        auto owned = std::make_unique<Host>(store_, grants_);
        host_ = owned.get();
        auto device = VifDevice::create(std::move(owned), config_);
        ASSERT_TRUE(device) << device.error().message;
        device_ = std::move(*device);
        device_->start();
    }
    void TearDown() override {
        if (device_) device_->stop();
    }
    void frontend(const std::string& key, const std::string& value) {
        ASSERT_TRUE(store_.write(std::string(kFront) + "/" + key, value));
    }
    std::string backend(const std::string& key) {
        return store_.get(std::string(kBack) + "/" + key);
    }
    void connect_frontend() {
        for (grant_ref_t ring : {kTx, kRx}) {
            auto* header = reinterpret_cast<ring_sring_header*>(grants_.page(ring).data());
            header->req_event = header->rsp_event = 1;
        }
        frontend("tx-ring-ref", "0");
        frontend("rx-ring-ref", "1");
        frontend("event-channel", "5");
        frontend("request-rx-copy", "1");
        frontend("feature-gso-tcpv4", "1");
        frontend("state", std::to_string(XenbusStateConnected));
        ASSERT_TRUE(eventually([&] { return backend("state") == "4"; })) << backend("state");
    }
    void ring_doorbell() {
        std::uint64_t one = 1;
        ASSERT_EQ(::write(host_->doorbell.load(), &one, sizeof one), ssize_t(sizeof one));
    }

    fakes::MemoryStore store_;
    fakes::FakeDataPathHost grants_{16};
    Host* host_ = nullptr;
    config::VifConfig config_;
    std::unique_ptr<VifDevice> device_;
};

TEST_F(VifDeviceTest, PublishesTheKeysLibxlAndNetbackWrite) {
    EXPECT_EQ(backend("mac"), "00:16:3e:11:22:33");
    EXPECT_EQ(backend("handle"), "0");
    EXPECT_EQ(backend("bridge"), "xenbr0");
    EXPECT_EQ(backend("script"), "/etc/xen/scripts/vif-bridge");
    EXPECT_EQ(backend("type"), "vif");
    EXPECT_EQ(backend("feature-rx-copy"), "1");
    EXPECT_EQ(backend("feature-sg"), "1");
    EXPECT_EQ(backend("feature-gso-tcpv4"), "1");
    EXPECT_EQ(backend("state"), std::to_string(XenbusStateInitWait));
    EXPECT_EQ(store_.get(std::string(kFront) + "/mac"), "00:16:3e:11:22:33");
    EXPECT_EQ(store_.get(std::string(kFront) + "/handle"), "0");
    // The host side exists before the guest connects.
    EXPECT_NE(::if_nametoindex("vif7.0"), 0u);
}

TEST_F(VifDeviceTest, AFrontendThatWantsPageFlippingIsRefused) {
    frontend("tx-ring-ref", "0");
    frontend("rx-ring-ref", "1");
    frontend("event-channel", "5");
    frontend("state", std::to_string(XenbusStateConnected));
    ASSERT_TRUE(eventually([&] { return backend("state") == "5"; })) << backend("state");
}

TEST_F(VifDeviceTest, PacketsCrossBetweenTheRingsAndTheHost) {
    connect_frontend();
    // The host's end of the link: 10.7.0.1/24 on vif7.0; the guest is 10.7.0.2.
    Fd control(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq request{};
    std::strcpy(request.ifr_name, "vif7.0");
    auto* address = reinterpret_cast<sockaddr_in*>(&request.ifr_addr);
    address->sin_family = AF_INET;
    ::inet_pton(AF_INET, "10.7.0.1", &address->sin_addr);
    ASSERT_EQ(::ioctl(control.get(), SIOCSIFADDR, &request), 0);
    ::inet_pton(AF_INET, "255.255.255.0", &address->sin_addr);
    ASSERT_EQ(::ioctl(control.get(), SIOCSIFNETMASK, &request), 0);
    ASSERT_EQ(::ioctl(control.get(), SIOCGIFHWADDR, &request), 0);
    std::uint8_t host_mac[6];
    std::memcpy(host_mac, request.ifr_hwaddr.sa_data, 6);

    Fd socket(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in bound{};
    bound.sin_family = AF_INET;
    bound.sin_port = htons(9000);
    ::inet_pton(AF_INET, "10.7.0.1", &bound.sin_addr);
    ASSERT_EQ(::bind(socket.get(), reinterpret_cast<sockaddr*>(&bound), sizeof bound), 0);

    // Guest to host: a UDP datagram (checksum 0: none, as IPv4 allows) on the TX ring.
    std::uint8_t frame[14 + 20 + 8 + 5] = {};
    std::memcpy(frame, host_mac, 6);
    std::memcpy(frame + 6, config_.mac.data(), 6);
    frame[12] = 0x08;
    frame[14] = 0x45;
    frame[17] = sizeof frame - 14;
    frame[22] = 64;
    frame[23] = IPPROTO_UDP;
    std::uint8_t source[4] = {10, 7, 0, 2}, target[4] = {10, 7, 0, 1};
    std::memcpy(frame + 26, source, 4);
    std::memcpy(frame + 30, target, 4);
    std::uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2)
        sum += std::uint32_t(frame[14 + i]) << 8 | frame[15 + i];
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    frame[24] = std::uint8_t(~sum >> 8);
    frame[25] = std::uint8_t(~sum);
    frame[34] = 0x30;  // source port 12345
    frame[35] = 0x39;
    frame[36] = 9000 >> 8;
    frame[37] = 9000 & 0xff;
    frame[39] = 8 + 5;
    std::memcpy(frame + 42, "hello", 5);
    std::memcpy(grants_.page(kData).data(), frame, sizeof frame);
    auto* tx = reinterpret_cast<netif_tx_sring_entry*>(grants_.page(kTx).data() + 64);
    tx[0].req = {kData, 0, 0, 1, std::uint16_t(sizeof frame)};
    std::atomic_ref<RING_IDX>(
        reinterpret_cast<ring_sring_header*>(grants_.page(kTx).data())->req_prod)
        .store(1, std::memory_order_release);
    ring_doorbell();
    pollfd ready{socket.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&ready, 1, 5000), 1);
    char text[16] = {};
    ASSERT_EQ(::recv(socket.get(), text, sizeof text, 0), 5);
    EXPECT_STREQ(text, "hello");

    // Host to guest: the guest posts a page, the host sends it a datagram.
    auto* rx_header = reinterpret_cast<ring_sring_header*>(grants_.page(kRx).data());
    auto* rx = reinterpret_cast<netif_rx_sring_entry*>(grants_.page(kRx).data() + 64);
    rx[0].req = {3, 0, kData + 1};
    std::atomic_ref<RING_IDX>(rx_header->req_prod).store(1, std::memory_order_release);
    ring_doorbell();
    arpreq neighbour{};
    auto* guest = reinterpret_cast<sockaddr_in*>(&neighbour.arp_pa);
    guest->sin_family = AF_INET;
    ::inet_pton(AF_INET, "10.7.0.2", &guest->sin_addr);
    neighbour.arp_ha.sa_family = ARPHRD_ETHER;
    std::memcpy(neighbour.arp_ha.sa_data, config_.mac.data(), 6);
    neighbour.arp_flags = ATF_COM | ATF_PERM;
    std::strcpy(neighbour.arp_dev, "vif7.0");
    ASSERT_EQ(::ioctl(control.get(), SIOCSARP, &neighbour), 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(12345);
    ::inet_pton(AF_INET, "10.7.0.2", &to.sin_addr);
    ASSERT_EQ(::sendto(socket.get(), "world", 5, 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              5);
    ASSERT_TRUE(eventually([&] {
        return std::atomic_ref<RING_IDX>(rx_header->rsp_prod).load(std::memory_order_acquire) == 1;
    }));
    const netif_rx_response& response = rx[0].rsp;
    EXPECT_EQ(response.id, 3);
    ASSERT_EQ(response.status, 14 + 20 + 8 + 5);
    EXPECT_EQ(std::memcmp(grants_.page(kData + 1).data(), config_.mac.data(), 6), 0);
    EXPECT_EQ(std::memcmp(grants_.page(kData + 1).data() + 42, "world", 5), 0);
    auto stats = device_->stats();
    EXPECT_EQ(stats.tx_packets, 1u);
    EXPECT_EQ(stats.rx_packets, 1u);
}

}  // namespace
}  // namespace domus::backends
