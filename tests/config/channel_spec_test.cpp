// CHANNEL_SPEC_STRING parsing: the forms xl.cfg(5) documents, and errors that name the key.
#include "config/channel_spec.hpp"

#include <gtest/gtest.h>

namespace domus::config {
namespace {

std::string error_of(std::string_view text) {
    auto spec = parse_channel_spec(text);
    return spec ? std::string("(accepted)") : spec.error().message;
}

TEST(ChannelSpec, KeysInAnyOrderWithSpaces) {
    auto a = parse_channel_spec("name=org.domus.echo,connection=socket,path=/run/echo.sock");
    auto b =
        parse_channel_spec(" path = /run/echo.sock , connection = socket, name=org.domus.echo,");
    ASSERT_TRUE(a) << a.error().message;
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_EQ(*a, *b);
    EXPECT_EQ(a->name, "org.domus.echo");
    EXPECT_EQ(a->path, "/run/echo.sock");
}

TEST(ChannelSpec, BackendZeroIsAccepted) {
    EXPECT_TRUE(parse_channel_spec("backend=0,name=a,connection=socket,path=/a"));
    EXPECT_TRUE(parse_channel_spec("backend=Domain-0,name=a,connection=socket,path=/a"));
}

TEST(ChannelSpec, ErrorsNameTheKey) {
    EXPECT_NE(error_of("connection=socket,path=/a").find("name: missing"), std::string::npos);
    EXPECT_NE(error_of("name=a,path=/a").find("connection: missing"), std::string::npos);
    EXPECT_NE(error_of("name=a,connection=socket").find("path: missing"), std::string::npos);
    EXPECT_NE(error_of("name=a,connection=pty").find("connection: pty is not supported"),
              std::string::npos);
    EXPECT_NE(error_of("name=a,connection=tcp,path=/a").find("connection: \"tcp\""),
              std::string::npos);
    EXPECT_NE(error_of("name=a/b,connection=socket,path=/a").find("name:"), std::string::npos);
    EXPECT_NE(error_of("name=,connection=socket,path=/a").find("name:"), std::string::npos);
    EXPECT_NE(
        error_of("name=a,connection=socket,path=/a,colour=red").find("unknown key \"colour\""),
        std::string::npos);
    EXPECT_NE(error_of("name=a,name=b,connection=socket,path=/a").find("name: given twice"),
              std::string::npos);
    EXPECT_NE(error_of("name=a,connection=socket,path=/a,backend=3").find("backend:"),
              std::string::npos);
    EXPECT_NE(error_of("name=a,connection=socket,socket").find("not key=value"), std::string::npos);
    EXPECT_NE(error_of("name=a,connection=socket,path=/" + std::string(200, 'x')).find("path:"),
              std::string::npos);
}

TEST(ChannelSpec, ListsRejectDuplicates) {
    auto ok = parse_channel_specs(
        {"name=a,connection=socket,path=/a", "name=b,connection=socket,path=/b"});
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_EQ(ok->size(), 2u);
    auto same_name = parse_channel_specs(
        {"name=a,connection=socket,path=/a", "name=a,connection=socket,path=/b"});
    ASSERT_FALSE(same_name);
    EXPECT_NE(same_name.error().message.find("name:"), std::string::npos);
    auto same_path = parse_channel_specs(
        {"name=a,connection=socket,path=/a", "name=b,connection=socket,path=/a"});
    ASSERT_FALSE(same_path);
    EXPECT_NE(same_path.error().message.find("path:"), std::string::npos);
}

TEST(ChannelSpec, RoundTrip) {
    auto spec = parse_channel_spec("path=/x.sock,name=n.1,connection=socket");
    ASSERT_TRUE(spec);
    auto again = parse_channel_spec(to_channel_spec(*spec));
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(*spec, *again);
}

}  // namespace
}  // namespace domus::config
