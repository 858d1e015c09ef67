// Tests for toolstack/xl_syntax: the syntax pass alone (keys, values, where each was read),
// with no key meaning anything yet.
#include "toolstack/xl_syntax.hpp"

#include <gtest/gtest.h>

#include "xl_values.hpp"

namespace domus::toolstack::xl {
namespace {

TEST(XlSyntax, SettingsCarryKeyValueAndWhere) {
    // Neither name nor kernel: the syntax pass requires no key.
    auto settings =
        parse_settings("colour = 'red'\n\nsize = 0x10; size = 3\nl = [ 1,\n 'a', [] ]\n", "t.cfg");
    ASSERT_TRUE(settings) << settings.error().message;
    ASSERT_EQ(settings->size(), 4u);
    EXPECT_EQ((*settings)[0].key, "colour");
    EXPECT_EQ((*settings)[0].value, str("red"));
    EXPECT_EQ((*settings)[0].where, "t.cfg:1");
    EXPECT_EQ((*settings)[0].value.line, 1);
    // Both occurrences of a key are kept, in order; which one counts is semantics.
    EXPECT_EQ((*settings)[1].value, num(16));
    EXPECT_EQ((*settings)[1].where, "t.cfg:3");
    EXPECT_EQ((*settings)[2].value, num(3));
    EXPECT_EQ((*settings)[3].value, list({num(1), str("a"), list({})}));
    EXPECT_EQ((*settings)[3].where, "t.cfg:4");
    const auto& items = std::get<std::vector<Value>>((*settings)[3].value.data);
    EXPECT_EQ(items[1].line, 5);  // a list item knows the line it starts on
}

TEST(XlSyntax, BareWordsAreStringsOnlyInOverrides) {
    auto file = parse_settings("name = web1\n", "t.cfg");
    ASSERT_FALSE(file);
    EXPECT_EQ(file.error().message,
              "t.cfg:1: name: expected a number, a quoted string or a list, got web1");
    auto override = parse_override_settings("name=web1", "override name=web1");
    ASSERT_TRUE(override) << override.error().message;
    ASSERT_EQ(override->size(), 1u);
    EXPECT_EQ((*override)[0].value, str("web1"));
    EXPECT_EQ((*override)[0].value.line, 0);
    EXPECT_EQ((*override)[0].where, "override name=web1");
    EXPECT_EQ(parse_override_settings("", "o").error().message,
              "override \"\": expected key=value");
}

TEST(XlSyntax, QuoteReadsBackAsTheSameString) {
    std::string every_byte;
    for (int c = 1; c < 256; ++c)
        every_byte += char(c);
    auto settings = parse_settings("s = " + quote(every_byte), "t.cfg");
    ASSERT_TRUE(settings) << settings.error().message;
    EXPECT_EQ((*settings)[0].value, str(every_byte));
    EXPECT_EQ(quote("a\"b\n"), "\"a\\\"b\\n\"");
}

TEST(XlSyntax, NumbersAndDescriptions) {
    EXPECT_EQ(*parse_number("0x40"), 64);
    EXPECT_EQ(*parse_number("0100"), 64);
    EXPECT_EQ(*parse_number("64"), 64);
    EXPECT_FALSE(parse_number("0x"));
    EXPECT_FALSE(parse_number("9223372036854775808"));
    EXPECT_EQ(describe(num(5)), "5");
    EXPECT_EQ(describe(str("x")), "\"x\"");
    EXPECT_EQ(describe(list({})), "a list");
}

}  // namespace
}  // namespace domus::toolstack::xl
