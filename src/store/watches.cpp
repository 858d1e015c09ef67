// Watch registration and matching.
#include "store/watches.hpp"

#include <algorithm>

#include "store/error.hpp"
#include "store/path.hpp"

namespace domus::store {

std::optional<std::string> event_path(const Watch& watch, const Change& change,
                                      std::string_view home) {
    std::string_view fired;
    if (is_special_path(watch.path) || is_special_path(change.path)) {
        if (watch.path != change.path) return std::nullopt;
        fired = change.path;
    } else if (is_same_or_below(change.path, watch.path)) {
        fired = change.path;
    } else if (change.subtree_removed && is_same_or_below(watch.path, change.path)) {
        fired = watch.path;  // an ancestor went away, taking the watched node with it
    } else {
        return std::nullopt;
    }
    return std::string(watch.relative ? relative_to_home(fired, home) : fired);
}

Result<void> WatchList::add(Watch watch, std::size_t limit) {
    auto same = [&](const Watch& w) { return w.path == watch.path && w.token == watch.token; };
    if (std::any_of(watches_.begin(), watches_.end(), same)) return xs_error(XsError::Exist);
    if (limit != 0 && watches_.size() >= limit) return xs_error(XsError::NoSpc);
    watches_.push_back(std::move(watch));
    return {};
}

Result<void> WatchList::remove(std::string_view path, std::string_view token) {
    auto same = [&](const Watch& w) { return w.path == path && w.token == token; };
    auto it = std::find_if(watches_.begin(), watches_.end(), same);
    if (it == watches_.end()) return xs_error(XsError::NoEnt);
    watches_.erase(it);
    return {};
}

}  // namespace domus::store
