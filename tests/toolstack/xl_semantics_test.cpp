// Tests for toolstack/xl_semantics: settings (as the syntax pass gives them) to a
// DomainSpec, with the labels of the settings in every message.
#include "toolstack/xl_semantics.hpp"

#include "toolstack/xl_config.hpp"

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

TEST(XlSemantics, ABadVifIsRefusedWithTheFileLineAndKey) {
    auto settings = minimal();
    settings.push_back(setting(
        "vif", Value{.data = std::vector<Value>{str("bridge=br0"), str("rate=10Mb")}}, "f.cfg:7"));
    auto spec = build_domain_spec(settings, "f.cfg");
    ASSERT_FALSE(spec);
    EXPECT_EQ(spec.error().message.rfind("f.cfg:7: vif: vif \"rate=10Mb\": rate: ", 0), 0u)
        << spec.error().message;
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

// The credit scheduler's keys (weight, cap) and pinning (cpus), through the whole parser.
namespace sched {

Result<ParsedConfig> parse(const std::string& extra) {
    return parse_xl_config("name = \"a\"\nkernel = \"/k\"\nvcpus = 2\n" + extra, "s.cfg");
}

std::string error_of(const std::string& extra) {
    auto parsed = parse(extra);
    EXPECT_FALSE(parsed) << extra;
    return parsed ? "" : parsed.error().message;
}

TEST(XlSemanticsSched, DefaultsAreXlsWeight256NoCapNoPinning) {
    auto parsed = parse("");
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->spec.weight, 256u);
    EXPECT_EQ(parsed->spec.cap, 0u);
    EXPECT_TRUE(parsed->spec.cpus.empty());
    EXPECT_EQ(vcpu_cpus(parsed->spec, 1), "all");
    EXPECT_TRUE(parsed->warnings.empty());
}

TEST(XlSemanticsSched, WeightAndCapInRange) {
    auto parsed = parse("weight = 512\ncap = 150\n");
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->spec.weight, 512u);
    EXPECT_EQ(parsed->spec.cap, 150u);
    EXPECT_EQ(error_of("weight = 0\n"), "s.cfg:4: weight: 0 is out of range 1..65535");
    EXPECT_EQ(error_of("weight = 70000\n"), "s.cfg:4: weight: 70000 is out of range 1..65535");
    // Up to 100 % of each vCPU the domain may have.
    EXPECT_EQ(error_of("cap = 201\n"), "s.cfg:4: cap: 201 is out of range 0..200");
    EXPECT_NE(error_of("cap = -1\n").find("s.cfg:4: cap:"), std::string::npos);
    EXPECT_EQ(error_of("weight = \"heavy\"\n"),
              "s.cfg:4: weight: expected a number, got \"heavy\"");
}

TEST(XlSemanticsSched, CpusInXlsForms) {
    for (const char* form : {"\"all\"", "\"0\"", "0", "\"0-0\"", "\"0,0\"", "\"all,^0,0\""}) {
        auto parsed = parse(std::string("cpus = ") + form + "\n");
        ASSERT_TRUE(parsed) << form << ": " << parsed.error().message;
        EXPECT_FALSE(parsed->spec.cpus_per_vcpu);
        EXPECT_EQ(vcpu_cpus(parsed->spec, 0), vcpu_cpus(parsed->spec, 1));
    }
    auto per_vcpu = parse("cpus = [\"0\"]\n");
    ASSERT_TRUE(per_vcpu) << per_vcpu.error().message;
    EXPECT_TRUE(per_vcpu->spec.cpus_per_vcpu);
    EXPECT_EQ(vcpu_cpus(per_vcpu->spec, 0), "0");
    EXPECT_EQ(vcpu_cpus(per_vcpu->spec, 1), "all");  // past the list: unpinned, as xl
}

TEST(XlSemanticsSched, CpusTheHostLacksOrBadSyntaxAreRefused) {
    EXPECT_EQ(error_of("cpus = \"100000\"\n")
                  .rfind("s.cfg:4: cpus: \"100000\": CPU 100000 does "
                         "not exist (the host has CPUs 0-",
                         0),
              0u);
    EXPECT_EQ(error_of("cpus = [\"0\", \"x\"]\n"),
              "s.cfg:4: cpus: vCPU 1: \"x\": \"x\" is not a CPU number");
    EXPECT_EQ(error_of("cpus = [\"0\", \"0\", \"0\"]\n"), "s.cfg:4: cpus: 3 entries for 2 vCPUs");
    EXPECT_NE(error_of("cpus = \"^0-100000\"\n").find("does not exist"), std::string::npos);
    EXPECT_EQ(error_of("cpus = [1]\n"), "s.cfg:4: cpus: item 1: expected a string, got 1");
}

TEST(XlSemanticsSched, RoundTripsThroughTheWriter) {
    for (const char* extra :
         {"weight = 1024\ncap = 50\ncpus = \"0\"\n", "cpus = [\"0\", \"all\"]\n", ""}) {
        auto parsed = parse(extra);
        ASSERT_TRUE(parsed) << parsed.error().message;
        auto again = parse_xl_config(to_xl_config(parsed->spec), "again.cfg");
        ASSERT_TRUE(again) << again.error().message;
        EXPECT_EQ(again->spec, parsed->spec) << to_xl_config(parsed->spec);
    }
}

}  // namespace sched

}  // namespace
}  // namespace domus::toolstack
