// Tests for toolstack/xl_writer: what a DomainSpec looks like in xl syntax, and that the
// syntax pass reads it back key by key.
#include "toolstack/xl_writer.hpp"

#include <gtest/gtest.h>

#include "toolstack/xl_syntax.hpp"

namespace domus::toolstack {
namespace {

TEST(XlWriter, WritesEveryKeyInXlSyntax) {
    DomainSpec spec;
    spec.name = "web1";
    spec.kernel = "/k";
    spec.cmdline = "console=hvc0 msg=\"hi\"";
    spec.on_crash = Action::Preserve;
    spec.disk = {"/a.img,raw,xvda"};
    spec.extra_keys["colour"] = Value{.data = std::vector<Value>{Value{.data = std::int64_t{1}}}};
    std::string text = to_xl_config(spec);
    EXPECT_NE(text.find("name = \"web1\"\n"), std::string::npos) << text;
    EXPECT_NE(text.find("type = \"pv\"\n"), std::string::npos) << text;
    EXPECT_NE(text.find("cmdline = \"console=hvc0 msg=\\\"hi\\\"\"\n"), std::string::npos) << text;
    EXPECT_NE(text.find("on_crash = \"preserve\"\n"), std::string::npos) << text;
    EXPECT_NE(text.find("disk = [\n    \"/a.img,raw,xvda\",\n]\n"), std::string::npos) << text;
    EXPECT_NE(text.find("colour = [ 1 ]\n"), std::string::npos) << text;
    // No empty lists, no uuid when there is none.
    EXPECT_EQ(text.find("vif"), std::string::npos) << text;
    EXPECT_EQ(text.find("uuid"), std::string::npos) << text;

    auto settings = xl::parse_settings(text, "written");
    ASSERT_TRUE(settings) << settings.error().message;
    std::vector<std::string> keys;
    for (const auto& s : *settings)
        keys.push_back(s.key);
    EXPECT_EQ(keys,
              (std::vector<std::string>{"name", "type", "memory", "maxmem", "vcpus", "maxvcpus",
                                        "kernel", "cmdline", "on_poweroff", "on_reboot", "on_crash",
                                        "on_watchdog", "disk", "colour"}));
}

}  // namespace
}  // namespace domus::toolstack
