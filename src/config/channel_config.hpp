// ChannelConfig: one secondary PV console ("channel") as the monitor is asked to provide it.
#pragma once

#include <cstdint>
#include <string>

namespace domus::config {

struct ChannelConfig {
    std::string name;         // written to the frontend (and backend) `name` key
    std::string socket_path;  // the UNIX socket the monitor listens on
    std::uint32_t devid = 1;  // device/console/<devid>; 0 is the primary console
};

}  // namespace domus::config
