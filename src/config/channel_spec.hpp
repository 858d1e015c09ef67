// ChannelSpec: one xl CHANNEL_SPEC_STRING (`channel = [ '...' ]` in xl.cfg, `--channel`
// on the CLI): a secondary PV console with a well-known name that the toolstack glues to
// something on the host. Comma-separated key=value items, in any order (xl.cfg(5)):
//   name=NAME            mandatory; what the guest looks the channel up by
//   connection=socket    the monitor listens on the UNIX socket `path` (one client at a time)
//   connection=pty       not supported (yet): rejected with a message that says so
//   path=PATH            mandatory for connection=socket
//   backend=DOMAIN       0 / Domain-0 only (no driver domains yet)
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace domus::config {

struct ChannelSpec {
    std::string name;  // 1..64 of [A-Za-z0-9._:-]
    std::string path;  // the UNIX socket the monitor listens on
    bool operator==(const ChannelSpec&) const = default;
};

// Every error names the offending key, e.g. `channel "...": path: missing (...)`.
Result<ChannelSpec> parse_channel_spec(std::string_view text);
// Parses a domain's whole list: names and socket paths must also be unique.
Result<std::vector<ChannelSpec>> parse_channel_specs(const std::vector<std::string>& texts);
// Back to a CHANNEL_SPEC_STRING.
std::string to_channel_spec(const ChannelSpec& spec);

}  // namespace domus::config
