// Fuzz harness for the block backend's guest side (backends/block/blk_request, blkback,
// backends/shared_ring): a hostile frontend that writes ring slots, indices and granted
// pages (indirect segment lists) between BlkBack passes, over an in-memory disk. Every
// request taken must be answered with its grants given back.
//
// Input: u8 disk flags (bit 0 read-only, bit 1 discard, bits 2-3 indirect segments
// 0/8/256/512), then records of u8 operation and its fields (see the switch).
#include <poll.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "../backends/block/fake_data_path_host.hpp"
#include "backends/block/blkback.hpp"
#include "fuzz_input.hpp"

using namespace domus;
using namespace domus::backends;
using domus::fuzz::FuzzInput;

namespace {

constexpr std::size_t kPages = 16;                  // grant refs 0..15 are valid
constexpr std::uint64_t kDiskBytes = 256ull << 10;  // 512 sectors

// Grants are pages of one buffer (tests/backends/block/fake_data_path_host.hpp).
class FakeHost final : public fakes::FakeDataPathHost {
public:
    FakeHost() : FakeDataPathHost(kPages) {}
};

// A disk in memory: no direct fd, so BlkBack serves it synchronously inside process().
class MemoryImage final : public storage::BlockImage {
public:
    explicit MemoryImage(bool read_only) : bytes_(kDiskBytes), read_only_(read_only) {}
    std::uint64_t size_bytes() const override { return bytes_.size(); }
    bool read_only() const override { return read_only_; }
    Result<void> read(std::uint64_t offset, std::span<std::byte> buffer) override {
        DOMUS_TRY_VOID(storage::check_request(*this, offset, buffer.size()));
        std::memcpy(buffer.data(), bytes_.data() + offset, buffer.size());
        return {};
    }
    Result<void> write(std::uint64_t offset, std::span<const std::byte> data) override {
        DOMUS_FUZZ_CHECK(!read_only_);
        DOMUS_TRY_VOID(storage::check_request(*this, offset, data.size()));
        std::memcpy(bytes_.data() + offset, data.data(), data.size());
        return {};
    }
    Result<void> flush() override { return {}; }
    Result<void> discard(std::uint64_t offset, std::uint64_t length) override {
        DOMUS_FUZZ_CHECK(!read_only_);
        DOMUS_TRY_VOID(storage::check_request(*this, offset, length));
        std::memset(bytes_.data() + offset, 0, length);
        return {};
    }

private:
    std::vector<std::byte> bytes_;
    bool read_only_;
};

struct alignas(4096) RingPage {
    std::byte bytes[4096];
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzInput in(data, size);
    std::uint8_t flags = in.u8();
    DiskLimits limits;
    limits.sectors = kDiskBytes / 512;
    limits.read_only = flags & 1;
    limits.discard = flags & 2;
    constexpr std::uint32_t kIndirect[] = {0, 8, 256, 512};
    limits.max_indirect_segments = kIndirect[(flags >> 2) % 4];

    FakeHost host;
    MemoryImage image(limits.read_only);
    auto ring = std::make_unique<RingPage>();
    std::memset(ring->bytes, 0, sizeof(ring->bytes));
    auto& header = *reinterpret_cast<ring_sring_header*>(ring->bytes);
    auto* entries = reinterpret_cast<blkif_sring_entry*>(ring->bytes + sizeof(ring_sring_header));
    header.rsp_event = 1;
    auto back = std::make_unique<BlkBack>(host, image, std::span(ring->bytes), limits);
    DOMUS_FUZZ_CHECK(!back->asynchronous());
    RING_IDX req_prod = 0;

    for (int step = 0; step < 128 && !in.empty(); ++step) {
        switch (in.u8() % 5) {
            case 0: {  // the frontend queues requests, slot bytes as given
                int n = in.u8() % 8 + 1;
                for (int i = 0; i < n; ++i) {
                    auto bytes = in.bytes(sizeof(blkif_request));
                    std::memcpy(&entries[req_prod % BLKIF_RING_SIZE_1PAGE], bytes.data(),
                                bytes.size());
                    ++req_prod;
                }
                std::atomic_ref<RING_IDX>(header.req_prod)
                    .store(req_prod, std::memory_order_release);
                break;
            }
            case 1:  // a hostile index
                req_prod = in.u32();
                std::atomic_ref<RING_IDX>(header.req_prod)
                    .store(req_prod, std::memory_order_release);
                break;
            case 2: {  // the frontend writes a granted page (indirect segment lists)
                auto page = host.page(in.u8() % kPages);
                std::size_t offset = in.u16() % 4096;
                auto bytes = in.bytes(std::min<std::size_t>(in.u16(), 4096 - offset));
                std::memcpy(page.data() + offset, bytes.data(), bytes.size());
                break;
            }
            case 3: {  // the doorbell: the backend runs
                bool alive = back->process();
                // Synchronous: whatever it took off the ring, it answered and gave back.
                DOMUS_FUZZ_CHECK(back->idle());
                DOMUS_FUZZ_CHECK(host.live == 0);
                if (!alive) {
                    back.reset();
                    return 0;
                }
                break;
            }
            case 4: {  // the frontend takes responses and asks for the next notification
                RING_IDX prod = std::atomic_ref<RING_IDX>(header.rsp_prod).load();
                header.rsp_event = prod + 1 + in.u8() % 4;
                break;
            }
        }
    }
    back->process();
    back.reset();
    DOMUS_FUZZ_CHECK(host.live == 0);
    return 0;
}
