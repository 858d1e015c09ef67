// CHANNEL_SPEC_STRING parsing (xl.cfg(5) `channel`, docs/misc/channels.txt in Xen).
#include "config/channel_spec.hpp"

#include <sys/un.h>

#include "config/spec_text.hpp"

namespace domus::config {
namespace {

constexpr std::size_t kMaxNameLength = 64;
// sun_path holds the path and its terminating NUL.
constexpr std::size_t kMaxPathLength = sizeof(sockaddr_un::sun_path) - 1;

bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
}

}  // namespace

Result<ChannelSpec> parse_channel_spec(std::string_view text) {
    ChannelSpec spec;
    std::string connection;
    DOMUS_TRY(items, spec_items(text, "channel"));
    for (const auto& [key, value] : items) {
        if (key == "name") {
            if (value.empty() || value.size() > kMaxNameLength)
                return make_error("channel \"{}\": name: must be 1..{} characters", text,
                                  kMaxNameLength);
            for (char c : value)
                if (!name_char(c))
                    return make_error(
                        "channel \"{}\": name: \"{}\" may hold only letters, digits and . _ : -",
                        text, value);
            spec.name = value;
        } else if (key == "connection") {
            if (value == "pty")
                return make_error(
                    "channel \"{}\": connection: pty is not supported by Domus yet; use "
                    "connection=socket,path=PATH",
                    text);
            if (value != "socket")
                return make_error("channel \"{}\": connection: \"{}\" is not socket or pty", text,
                                  value);
            connection = value;
        } else if (key == "path") {
            if (value.empty()) return make_error("channel \"{}\": path: empty", text);
            if (value.size() > kMaxPathLength)
                return make_error(
                    "channel \"{}\": path: {} bytes; a UNIX socket path holds at most {}", text,
                    value.size(), kMaxPathLength);
            spec.path = value;
        } else if (key == "backend") {
            if (value != "0" && value != "Domain-0")
                return make_error("channel \"{}\": backend: driver domains are not supported yet",
                                  text);
        } else {
            return make_error(
                "channel \"{}\": unknown key \"{}\" (name, connection, path, backend)", text, key);
        }
    }
    if (spec.name.empty())
        return make_error("channel \"{}\": name: missing (it is mandatory)", text);
    if (connection.empty())
        return make_error("channel \"{}\": connection: missing (connection=socket)", text);
    if (spec.path.empty())
        return make_error("channel \"{}\": path: missing (connection=socket needs one)", text);
    return spec;
}

Result<std::vector<ChannelSpec>> parse_channel_specs(const std::vector<std::string>& texts) {
    std::vector<ChannelSpec> specs;
    for (const auto& text : texts) {
        DOMUS_TRY(spec, parse_channel_spec(text));
        for (const auto& other : specs) {
            if (other.name == spec.name)
                return make_error("channel \"{}\": name: \"{}\" is used by another channel", text,
                                  spec.name);
            if (other.path == spec.path)
                return make_error("channel \"{}\": path: \"{}\" is used by another channel", text,
                                  spec.path);
        }
        specs.push_back(std::move(spec));
    }
    return specs;
}

std::string to_channel_spec(const ChannelSpec& spec) {
    return "name=" + spec.name + ",connection=socket,path=" + spec.path;
}

}  // namespace domus::config
