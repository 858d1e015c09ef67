// Tests for monitor/hypercall_page: the exact bytes of each 32-byte stub, so a change
// of the transport cannot slip in unnoticed.
#include "monitor/hypercall_page.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include <domus/abi/xen.h>

namespace domus::monitor {
namespace {

constexpr std::uint8_t kInt3 = 0xCC;
constexpr std::uint8_t kRet = 0xC3;
constexpr std::uint32_t kStubs = XEN_PAGE_SIZE / DOMUS_HYPERCALL_STUB_SIZE;

class HypercallPage : public ::testing::Test {
protected:
    void SetUp() override {
        page.fill(std::byte{0});  // stale contents must not survive
        fill_hypercall_page(page);
    }

    // The stub's code: its bytes up to the first ret, which must be followed by int3 only.
    std::vector<std::uint8_t> code(std::uint32_t nr) const {
        std::vector<std::uint8_t> bytes;
        for (std::uint32_t i = 0; i < DOMUS_HYPERCALL_STUB_SIZE; ++i)
            bytes.push_back(std::uint8_t(page[nr * DOMUS_HYPERCALL_STUB_SIZE + i]));
        std::size_t end = 0;
        while (end < bytes.size() && bytes[end] != kRet)
            ++end;
        EXPECT_LT(end, bytes.size()) << "stub " << nr << " has no ret";
        for (std::size_t i = end + 1; i < bytes.size(); ++i)
            EXPECT_EQ(bytes[i], kInt3) << "stub " << nr << " byte " << i;
        bytes.resize(std::min(end + 1, bytes.size()));
        return bytes;
    }

    std::array<std::byte, XEN_PAGE_SIZE> page;
};

std::vector<std::uint8_t> served_stub(std::uint32_t nr) {
    // mov $nr,%eax; out %eax,$0xEC; ret
    return {0xB8, std::uint8_t(nr), 0x00, 0x00, 0x00, 0xE7, DOMUS_HYPERCALL_PORT, kRet};
}

TEST_F(HypercallPage, ServedNumberTrapsThroughTheHypercallPort) {
    EXPECT_EQ(code(__HYPERVISOR_sched_op), served_stub(29));
    EXPECT_EQ(code(29), (std::vector<std::uint8_t>{0xB8, 29, 0, 0, 0, 0xE7, 0xEC, 0xC3}));
}

TEST_F(HypercallPage, EveryNumberBelowTheLimitIsServed) {
    for (std::uint32_t nr = 0; nr < DOMUS_NR_HYPERCALLS; ++nr) {
        if (nr == __HYPERVISOR_domus_notify) continue;
        EXPECT_EQ(code(nr), served_stub(nr)) << "stub " << nr;
    }
}

TEST_F(HypercallPage, NotifyWritesThePortToTheDoorbellAndReturnsZero) {
    // mov %edi,%eax; out %eax,$0xED; xor %eax,%eax; ret
    EXPECT_EQ(code(__HYPERVISOR_domus_notify),
              (std::vector<std::uint8_t>{0x89, 0xF8, 0xE7, DOMUS_DOORBELL_PORT, 0x31, 0xC0, kRet}));
    EXPECT_EQ(__HYPERVISOR_domus_notify, 48);
}

TEST_F(HypercallPage, NumbersPastTheLimitReturnEnosysWithoutAnExit) {
    // mov $-ENOSYS,%rax (sign-extended imm32); ret: no port write at all.
    const std::vector<std::uint8_t> enosys{0x48, 0xC7, 0xC0, 0xDA, 0xFF, 0xFF, 0xFF, kRet};
    std::int32_t imm;
    std::memcpy(&imm, &enosys[3], 4);
    ASSERT_EQ(imm, -XEN_ENOSYS);
    for (std::uint32_t nr = DOMUS_NR_HYPERCALLS; nr < kStubs; ++nr) {
        EXPECT_EQ(code(nr), enosys) << "stub " << nr;
    }
}

TEST_F(HypercallPage, EveryStubFitsItsSlot) {
    static_assert(kStubs == 128);
    for (std::uint32_t nr = 0; nr < kStubs; ++nr) {
        std::vector<std::uint8_t> stub = code(nr);  // checks ret + int3 padding
        EXPECT_LE(stub.size(), DOMUS_HYPERCALL_STUB_SIZE);
        EXPECT_EQ(stub.back(), kRet);
    }
}

}  // namespace
}  // namespace domus::monitor
