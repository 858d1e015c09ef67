// Tests for monitor/domain_save's vCPU records: a VcpuSnapshot survives encode and decode
// exactly, and a record missing a blob or with one of the wrong size is refused.
#include "monitor/domain_save.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace domus::monitor {
namespace {

VcpuSnapshot sample() {
    VcpuSnapshot s;
    s.regs.rip = 0x201000;
    s.regs.rax = 0;
    s.regs.rsp = 0x7ff000;
    s.sregs.cr3 = 0x1000000;
    s.sregs.fs.base = 0x1234;
    s.xsave.assign(4096, 0);
    s.xsave[0] = 0x7f;
    s.xcrs.nr_xcrs = 1;
    s.xcrs.xcrs[0].value = 0xe7;
    s.up = true;
    s.vcpu_info_gpa = 0x300040;
    s.vcpu_info_registered = true;
    s.upcall_entry = 0x202000;
    s.timer_deadline_ns = 123456789;
    return s;
}

TEST(DomainSave, VcpuStateRoundTrips) {
    auto state = encode_vcpu(2, sample());
    EXPECT_EQ(state.id, 2u);
    auto bytes = migration::encode(state);
    auto decoded_state = migration::decode_vcpu_state(bytes);
    ASSERT_TRUE(decoded_state);
    auto back = decode_vcpu(*decoded_state);
    ASSERT_TRUE(back) << back.error().message;
    VcpuSnapshot want = sample();
    EXPECT_EQ(std::memcmp(&back->regs, &want.regs, sizeof want.regs), 0);
    EXPECT_EQ(std::memcmp(&back->sregs, &want.sregs, sizeof want.sregs), 0);
    EXPECT_EQ(std::memcmp(&back->xcrs, &want.xcrs, sizeof want.xcrs), 0);
    EXPECT_EQ(back->xsave, want.xsave);
    EXPECT_TRUE(back->up);
    EXPECT_EQ(back->vcpu_info_gpa, want.vcpu_info_gpa);
    EXPECT_TRUE(back->vcpu_info_registered);
    EXPECT_EQ(back->upcall_entry, want.upcall_entry);
    EXPECT_EQ(back->timer_deadline_ns, want.timer_deadline_ns);
    EXPECT_FALSE(back->initialised);
}

// A vCPU down at the save but initialised before may be brought up after the restore;
// an image without the blob (older) takes `up` for it.
TEST(DomainSave, InitialisedTravelsAndDefaultsToUp) {
    VcpuSnapshot down = sample();
    down.up = false;
    down.initialised = true;
    auto back = decode_vcpu(encode_vcpu(1, down));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_FALSE(back->up);
    EXPECT_TRUE(back->initialised);
    for (bool up : {false, true}) {
        VcpuSnapshot older = sample();
        older.up = up;
        auto state = encode_vcpu(1, older);
        state.blobs.erase(6);
        auto decoded = decode_vcpu(state);
        ASSERT_TRUE(decoded) << decoded.error().message;
        EXPECT_EQ(decoded->initialised, up);
    }
}

TEST(DomainSave, IncompleteVcpuStateIsRefused) {
    auto full = encode_vcpu(0, sample());
    for (auto& [tag, blob] : full.blobs) {
        auto missing = full;
        missing.blobs.erase(tag);
        if (tag != 6) {  // "initialised" is optional: see below
            EXPECT_FALSE(decode_vcpu(missing)) << "without blob " << tag;
        }
        auto wrong = full;
        wrong.blobs[tag].resize(blob.size() > 8 ? 8 : 1);
        EXPECT_FALSE(decode_vcpu(wrong)) << "blob " << tag << " cut short";
    }
    auto many = full;
    auto xcrs = sample().xcrs;
    xcrs.nr_xcrs = KVM_MAX_XCRS + 1;
    many.blobs[4].assign(reinterpret_cast<std::uint8_t*>(&xcrs),
                         reinterpret_cast<std::uint8_t*>(&xcrs) + sizeof xcrs);
    EXPECT_FALSE(decode_vcpu(many));
}

}  // namespace
}  // namespace domus::monitor
