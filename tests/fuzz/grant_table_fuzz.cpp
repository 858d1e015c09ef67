// Fuzz harness for monitor/grant_table: a guest that registers table frames and writes
// entries (and anything else) into its RAM, interleaved with a backend's map, batch map,
// unmap and copy calls; every use must be given back when its mapping goes.
//
// Input: records of u8 operation then its fields (see the switch). Guest frames are
// 0x200 + (u8 mod 64): inside [2 MiB, 6 MiB), the RAM the table accepts.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "fuzz_input.hpp"
#include "monitor/grant_table.hpp"
#include "monitor/guest_memory.hpp"

using namespace domus::monitor;
using domus::fuzz::FuzzInput;

namespace {

constexpr domid_t kOwner = 7;
constexpr std::uint64_t kRamBegin = 2ull << 20, kRamEnd = 6ull << 20;
constexpr std::uint64_t kFrameList = kRamEnd;  // above the table's RAM: a list, not a frame

std::uint64_t frame(FuzzInput& in) {
    std::uint8_t pick = in.u8();
    return pick == 0xff ? in.u64() : 0x200 + pick % 64;
}
domid_t grantee(FuzzInput& in) {
    std::uint8_t pick = in.u8();
    return pick < 0xf0 ? domid_t(pick % 3) : in.u16();  // 0 (backends), 1, 2, or anything
}
grant_ref_t ref(FuzzInput& in) {
    std::uint16_t pick = in.u16();
    return pick < 0xff00 ? pick % 1024 : in.u32();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // A fresh memfd each time: only the pages an input touches cost anything.
    GuestMemory memory = GuestMemory::create(8ull << 20, kRamBegin).value();

    FuzzInput in(data, size);
    auto table = std::make_unique<GrantTable>(memory, kOwner, kRamBegin, kRamEnd);
    std::vector<GrantMapping> mappings;
    std::vector<GrantBatch> batches(4);
    std::vector<std::uint64_t> table_frames;
    std::vector<std::byte> buffer(2 * GrantTable::kPageBytes);

    for (int step = 0; step < 256 && !in.empty(); ++step) {
        switch (in.u8() % 9) {
            case 0: {  // GNTTABOP_domus_set_table
                std::uint32_t nr = in.u8() % 8;
                if (nr == 7) nr = in.u32();
                std::vector<std::uint64_t> frames;
                for (std::uint32_t i = 0; i < std::min<std::uint32_t>(nr, 8); ++i)
                    frames.push_back(frame(in));
                for (std::size_t i = 0; i < frames.size(); ++i)
                    memory.write(kFrameList + i * sizeof(xen_pfn_t), xen_pfn_t(frames[i]));
                if (table->set_table(kFrameList, nr) == GNTST_okay) table_frames = frames;
                break;
            }
            case 1: {  // the guest writes a grant entry of the frames it registered
                grant_ref_t r = in.u16() % 2048;
                grant_entry_v1 entry{};
                entry.flags = in.u16();
                entry.domid = grantee(in);
                entry.frame = std::uint32_t(frame(in));
                std::size_t per_frame = GrantTable::kEntriesPerFrame;
                if (r / per_frame < table_frames.size())
                    memory.write(table_frames[r / per_frame] * GrantTable::kPageBytes +
                                     (r % per_frame) * sizeof(grant_entry_v1),
                                 entry);
                break;
            }
            case 2: {  // the guest writes raw bytes into one of its frames
                std::uint64_t gpa = frame(in) * GrantTable::kPageBytes + in.u16() % 4096;
                auto bytes = in.bytes(in.u8());
                if (auto target = memory.range(gpa, bytes.size()))
                    std::memcpy(target->data(), bytes.data(), bytes.size());
                break;
            }
            case 3: {  // a backend maps one grant
                domid_t who = grantee(in);
                grant_ref_t r = ref(in);
                bool writable = in.u8() & 1;
                auto mapping = table->map(who, r, writable);
                if (!mapping) break;
                DOMUS_FUZZ_CHECK(mapping->page().size() == GrantTable::kPageBytes);
                DOMUS_FUZZ_CHECK(mapping->page().data() >= memory.base() + kRamBegin &&
                                 mapping->page().data() + GrantTable::kPageBytes <=
                                     memory.base() + kRamEnd);
                mapping->page()[0] = mapping->page()[0];  // reachable (ASan checks)
                if (mappings.size() < 64) mappings.push_back(std::move(*mapping));
                break;
            }
            case 4:  // a backend unmaps one
                if (!mappings.empty()) mappings.erase(mappings.begin() + in.u8() % mappings.size());
                break;
            case 5: {  // a backend maps a request's grants together
                GrantBatch& batch = batches[in.u8() % batches.size()];
                domid_t who = grantee(in);
                std::vector<grant_ref_t> refs(in.u8() % 12);
                for (auto& r : refs)
                    r = ref(in);
                bool writable = in.u8() & 1;
                if (table->map_batch(who, refs, writable, batch)) {
                    DOMUS_FUZZ_CHECK(batch.size() == refs.size());
                    for (std::size_t i = 0; i < batch.size(); ++i)
                        DOMUS_FUZZ_CHECK(batch.page(i).size() == GrantTable::kPageBytes);
                }
                break;
            }
            case 6:
                batches[in.u8() % batches.size()].reset();
                break;
            case 7: {  // copies through a grant, either way
                bool to_grant = in.u8() & 1;
                domid_t who = grantee(in);
                grant_ref_t r = ref(in);
                std::uint32_t offset = in.u16();
                std::size_t length = in.u16() % buffer.size();
                std::span<std::byte> host(buffer.data(), length);
                if (to_grant)
                    (void)table->copy_to_grant(who, r, offset, host);
                else
                    (void)table->copy_from_grant(who, r, offset, host);
                break;
            }
            case 8: {  // GNTTABOP_copy by the owner
                gnttab_copy op{};
                auto bytes = in.bytes(sizeof(op));
                std::memcpy(&op, bytes.data(), bytes.size());
                (void)table->copy(op);
                break;
            }
        }
    }
    mappings.clear();
    batches.clear();
    DOMUS_FUZZ_CHECK(table->grants_in_use() == 0);
    return 0;
}
