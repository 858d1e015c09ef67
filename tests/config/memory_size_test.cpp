// Tests for config/memory_size: xl's memory sizes for mem-set and mem-max.
#include "config/memory_size.hpp"

#include <gtest/gtest.h>

namespace domus::config {
namespace {

TEST(MemorySizeTest, PlainNumbersAreMiB) {
    EXPECT_EQ(parse_memory_size_kib("64").value(), 64u * 1024);
    EXPECT_EQ(parse_memory_size_kib("0").value(), 0u);
}

TEST(MemorySizeTest, SuffixesInEitherCase) {
    EXPECT_EQ(parse_memory_size_kib("65536k").value(), 65536u);
    EXPECT_EQ(parse_memory_size_kib("64K").value(), 64u);
    EXPECT_EQ(parse_memory_size_kib("256m").value(), 256u * 1024);
    EXPECT_EQ(parse_memory_size_kib("2G").value(), 2u * 1024 * 1024);
    EXPECT_EQ(parse_memory_size_kib("1t").value(), 1024ull * 1024 * 1024);
}

TEST(MemorySizeTest, AnythingElseIsRefusedNamingTheText) {
    for (const char* text : {"", "lots", "12x", "-5", "+5", " 64", "64 ", "1.5g", "64mb", "m",
                             "0x40", "99999999999999999999", "99999999999999t"}) {
        auto parsed = parse_memory_size_kib(text);
        ASSERT_FALSE(parsed) << text;
        EXPECT_NE(parsed.error().message.find(std::string("\"") + text + "\""), std::string::npos)
            << parsed.error().message;
    }
}

}  // namespace
}  // namespace domus::config
