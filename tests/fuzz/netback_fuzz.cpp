// Fuzz harness for the network backend's guest side (backends/net/netback, offload,
// backends/shared_ring): a hostile frontend that writes TX and RX ring slots, indices
// and granted pages between NetBack passes, and a host that delivers frames of any
// shape and offload header. Every slot taken must be answered with its grants given back.
//
// Input: u8 features (bit 0 GSO TCPv4, bit 1 GSO TCPv6), then records of u8 operation
// and its fields (see the switch).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <vector>

#include "../backends/block/fake_data_path_host.hpp"
#include "backends/net/netback.hpp"
#include "fuzz_input.hpp"

using namespace domus;
using namespace domus::backends;
using domus::fuzz::FuzzInput;

namespace {

constexpr std::size_t kPages = 24;  // grant refs 0..23 are valid; 0 and 1 hold the rings

class Port final : public FramePort {
public:
    Result<bool> send(const VnetHeader&, std::span<const iovec> frame) override {
        std::size_t total = 0;
        for (const auto& piece : frame)
            total += piece.iov_len;
        DOMUS_FUZZ_CHECK(total <= XEN_NETIF_MAX_TX_SIZE);
        return !full;
    }
    Result<std::size_t> receive(VnetHeader& header, std::span<std::byte> buffer) override {
        if (frames.empty()) return std::size_t(0);
        auto [h, length] = frames.front();
        frames.pop_front();
        header = h;
        length = std::min(length, buffer.size());
        std::memset(buffer.data(), 0xab, length);
        return length;
    }
    std::deque<std::pair<VnetHeader, std::size_t>> frames;
    bool full = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzInput in(data, size);
    std::uint8_t features = in.u8();
    fakes::FakeDataPathHost host(kPages);
    Port port;
    auto tx_page = host.page(0);
    auto rx_page = host.page(1);
    auto& tx = *reinterpret_cast<ring_sring_header*>(tx_page.data());
    auto& rx = *reinterpret_cast<ring_sring_header*>(rx_page.data());
    tx.rsp_event = rx.rsp_event = 1;
    auto* tx_slots = reinterpret_cast<netif_tx_sring_entry*>(tx_page.data() + 64);
    auto* rx_slots = reinterpret_cast<netif_rx_sring_entry*>(rx_page.data() + 64);
    auto back = std::make_unique<NetBack>(
        host, port, tx_page, rx_page,
        NetFeatures{
            .gso_tcpv4 = bool(features & 1), .gso_tcpv6 = bool(features & 2), .csum_blank = true});
    RING_IDX tx_prod = 0, rx_prod = 0;
    auto publish = [](RING_IDX& index, RING_IDX value) {
        std::atomic_ref<RING_IDX>(index).store(value, std::memory_order_release);
    };

    for (int step = 0; step < 128 && !in.empty(); ++step) {
        switch (in.u8() % 7) {
            case 0: {  // TX slots, bytes as given
                int n = in.u8() % 24 + 1;
                for (int i = 0; i < n; ++i) {
                    auto bytes = in.bytes(sizeof(netif_tx_request));
                    std::memcpy(&tx_slots[tx_prod % NET_TX_RING_SIZE], bytes.data(), bytes.size());
                    ++tx_prod;
                }
                publish(tx.req_prod, tx_prod);
                break;
            }
            case 1: {  // RX pages posted, bytes as given
                int n = in.u8() % 24 + 1;
                for (int i = 0; i < n; ++i) {
                    auto bytes = in.bytes(sizeof(netif_rx_request));
                    std::memcpy(&rx_slots[rx_prod % NET_RX_RING_SIZE], bytes.data(), bytes.size());
                    ++rx_prod;
                }
                publish(rx.req_prod, rx_prod);
                break;
            }
            case 2:  // hostile indices
                tx_prod = in.u32();
                rx_prod = in.u32();
                publish(tx.req_prod, tx_prod);
                publish(rx.req_prod, rx_prod);
                break;
            case 3: {  // the guest writes a granted page (packet data)
                auto page = host.page(2 + in.u8() % (kPages - 2));
                std::size_t offset = in.u16() % 4096;
                auto bytes = in.bytes(std::min<std::size_t>(in.u16(), 4096 - offset));
                std::memcpy(page.data() + offset, bytes.data(), bytes.size());
                break;
            }
            case 4: {  // a frame from the host with any offload header
                VnetHeader header;
                auto bytes = in.bytes(sizeof header);
                std::memcpy(&header, bytes.data(), bytes.size());
                port.frames.push_back({header, std::size_t(in.u32() % (NetBack::kMaxFrame + 100))});
                port.full = in.u8() & 1;
                break;
            }
            case 5: {  // the doorbell or the TAP: the backend runs
                bool alive = back->transmit() && back->receive();
                DOMUS_FUZZ_CHECK(host.live == 0);
                if (!alive) return 0;
                break;
            }
            case 6:  // the frontend asks for the next notifications
                tx.rsp_event = std::atomic_ref<RING_IDX>(tx.rsp_prod).load() + 1 + in.u8() % 4;
                rx.rsp_event = std::atomic_ref<RING_IDX>(rx.rsp_prod).load() + 1 + in.u8() % 4;
                break;
        }
    }
    back->transmit();
    back->receive();
    back.reset();
    DOMUS_FUZZ_CHECK(host.live == 0);
    return 0;
}
