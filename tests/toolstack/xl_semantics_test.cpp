// Tests for toolstack/xl_semantics: settings (as the syntax pass gives them) to a
// DomainSpec, with the labels of the settings in every message.
#include "toolstack/xl_semantics.hpp"

#include <gtest/gtest.h>

namespace domus::toolstack {
namespace {

xl::Setting setting(std::string key, Value value, std::string where) {
    return xl::Setting{std::move(key), std::move(value), std::move(where)};
}
Value str(std::string s) {
    return Value{.data = std::move(s)};
}
Value num(std::int64_t n) {
    return Value{.data = n};
}

std::vector<xl::Setting> minimal() {
    return {setting("name", str("a"), "f.cfg:1"), setting("kernel", str("/k"), "f.cfg:2")};
}

TEST(XlSemantics, MessagesUseTheLabelOfTheSetting) {
    auto settings = minimal();
    settings.push_back(setting("memory", str("lots"), "f.cfg:9"));
    auto spec = build_domain_spec(settings, "f.cfg");
    ASSERT_FALSE(spec);
    EXPECT_EQ(spec.error().message, "f.cfg:9: memory: expected a number, got \"lots\"");
    auto missing = build_domain_spec({setting("name", str("a"), "f.cfg:1")}, "f.cfg");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().message, "f.cfg: kernel: required key missing");
}

TEST(XlSemantics, TheLastValueOfAKeyCounts) {
    auto settings = minimal();
    settings.push_back(setting("memory", num(64), "f.cfg:3"));
    settings.push_back(setting("memory", num(128), "f.cfg:4"));
    settings.push_back(setting("colour", str("red"), "f.cfg:5"));
    auto parsed = build_domain_spec(settings, "f.cfg");
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->spec.memory_mib, 128u);
    EXPECT_EQ(parsed->spec.maxmem_mib, 128u);
    EXPECT_EQ(parsed->spec.extra_keys.at("colour"), str("red"));
    ASSERT_EQ(parsed->warnings.size(), 1u);
    EXPECT_EQ(parsed->warnings[0], "f.cfg:5: colour: unknown key, ignored");
}

TEST(XlSemantics, AnOverrideOfCmdlineOrExtraReplacesBoth) {
    auto settings = minimal();
    settings.push_back(setting("extra", str("old"), "f.cfg:3"));
    merge_override(settings, setting("cmdline", str("new"), "override cmdline=new"));
    auto parsed = build_domain_spec(settings, "f.cfg");
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->spec.cmdline, "new");
}

TEST(XlSemantics, ActionNames) {
    EXPECT_EQ(action_name(Action::RenameRestart), "rename-restart");
    EXPECT_EQ(action_name(Action::SoftReset), "soft-reset");
}

}  // namespace
}  // namespace domus::toolstack
