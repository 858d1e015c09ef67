// What xl's device strings (DISKSPEC, CHANNEL_SPEC_STRING, VIFSPEC) share: items around
// which spaces and tabs do not count.
#pragma once

#include <string_view>

namespace domus::config {

inline std::string_view trim_spec_item(std::string_view text) {
    auto begin = text.find_first_not_of(" \t");
    if (begin == std::string_view::npos) return {};
    auto end = text.find_last_not_of(" \t");
    return text.substr(begin, end - begin + 1);
}

}  // namespace domus::config
