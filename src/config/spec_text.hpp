// What xl's device strings (DISKSPEC, CHANNEL_SPEC_STRING, VIFSPEC) share: items around
// which spaces and tabs do not count.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.hpp"

namespace domus::config {

inline std::string_view trim_spec_item(std::string_view text) {
    auto begin = text.find_first_not_of(" \t");
    if (begin == std::string_view::npos) return {};
    auto end = text.find_last_not_of(" \t");
    return text.substr(begin, end - begin + 1);
}

// The key=value items of `text`, comma-separated, trimmed, empty items skipped (as xl
// allows); an item without '=' or a key given twice is refused, the error naming
// `kind "text"` (e.g. `vif "...": mtu: given twice`).
inline Result<std::vector<std::pair<std::string, std::string>>> spec_items(std::string_view text,
                                                                           std::string_view kind) {
    std::vector<std::pair<std::string, std::string>> items;
    std::set<std::string> seen;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::string_view rest = text.substr(start);
        auto comma = rest.find(',');
        std::string_view item = trim_spec_item(rest.substr(0, comma));
        start = comma == std::string_view::npos ? text.size() + 1 : start + comma + 1;
        if (item.empty()) continue;
        auto equals = item.find('=');
        if (equals == std::string_view::npos)
            return make_error("{} \"{}\": \"{}\" is not key=value", kind, text, item);
        std::string key(trim_spec_item(item.substr(0, equals)));
        if (!seen.insert(key).second)
            return make_error("{} \"{}\": {}: given twice", kind, text, key);
        items.emplace_back(std::move(key), std::string(trim_spec_item(item.substr(equals + 1))));
    }
    return items;
}

}  // namespace domus::config
