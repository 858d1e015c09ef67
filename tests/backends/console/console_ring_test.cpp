// ConsoleRing against a page the test plays the frontend on, hostile indices included.
#include "backends/console/console_ring.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace domus::backends {
namespace {

struct Page {
    alignas(4096) std::byte bytes[4096] = {};
    xencons_interface& ring() { return *reinterpret_cast<xencons_interface*>(bytes); }
    void produce(std::string_view text) {  // the frontend writing `out`
        auto& r = ring();
        for (char c : text)
            r.out[MASK_XENCONS_IDX(r.out_prod++, r.out)] = c;
    }
    std::string consume() {  // the frontend reading `in`
        auto& r = ring();
        std::string text;
        while (r.in_cons != r.in_prod)
            text.push_back(r.in[MASK_XENCONS_IDX(r.in_cons++, r.in)]);
        return text;
    }
};

TEST(ConsoleRing, MovesBytesBothWaysAcrossTheWrap) {
    Page page;
    page.ring().connection = 1;
    page.ring().out_prod = page.ring().out_cons = 0xFFFFFFF0u;  // indices wrap the u32
    page.ring().in_prod = page.ring().in_cons = 1020;           // `in` wraps its buffer
    ConsoleRing ring(page.bytes);
    EXPECT_EQ(page.ring().connection, 0);
    page.produce("hello, channel\n");
    std::string out;
    EXPECT_EQ(ring.take_output(out, 1000), 15u);
    EXPECT_EQ(out, "hello, channel\n");
    EXPECT_EQ(page.ring().out_cons, page.ring().out_prod);
    EXPECT_EQ(ring.put_input("HELLO"), 5u);
    EXPECT_EQ(page.consume(), "HELLO");
}

TEST(ConsoleRing, TakesNoMoreThanAskedAndPutsNoMoreThanFits) {
    Page page;
    ConsoleRing ring(page.bytes);
    page.produce("abcdef");
    std::string out;
    EXPECT_EQ(ring.take_output(out, 4), 4u);
    EXPECT_EQ(out, "abcd");
    EXPECT_EQ(ring.output_pending(), 2u);
    std::string big(3000, 'x');
    EXPECT_EQ(ring.put_input(big), sizeof(xencons_interface::in));
    EXPECT_EQ(ring.put_input(big), 0u);  // full until the frontend reads
    EXPECT_EQ(page.consume().size(), sizeof(xencons_interface::in));
    EXPECT_EQ(ring.put_input("z"), 1u);
}

TEST(ConsoleRing, ImpossibleIndicesBreakTheRingAndTakeNothing) {
    Page page;
    ConsoleRing ring(page.bytes);
    page.ring().out_prod = sizeof(xencons_interface::out) + 1;  // more than the buffer
    std::string out;
    EXPECT_FALSE(ring.take_output(out, 100000));
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(page.ring().out_cons, 0u);  // not advanced
    page.ring().in_cons = 5;              // ahead of our in_prod (0)
    EXPECT_FALSE(ring.put_input("x"));
    EXPECT_EQ(page.ring().in_prod, 0u);
}

TEST(ConsoleRing, KeepsItsOwnIndicesWhateverTheFrontendWritesOverThem) {
    Page page;
    ConsoleRing ring(page.bytes);
    page.produce("once\n");
    std::string out;
    EXPECT_EQ(ring.take_output(out, 100), 5u);
    // A hostile frontend rewinds the backend's out_cons and moves its in_prod: the
    // backend neither hands the same bytes out twice nor loses track of `in`.
    page.ring().out_cons -= 5;
    page.ring().in_prod += 5000;
    EXPECT_EQ(ring.take_output(out, 100), 0u);
    EXPECT_EQ(out, "once\n");
    EXPECT_EQ(ring.output_pending(), 0u);
    EXPECT_EQ(ring.put_input("ok"), 2u);
    EXPECT_EQ(page.ring().in_prod, 2u);
    EXPECT_EQ(page.consume(), "ok");
}

}  // namespace
}  // namespace domus::backends
