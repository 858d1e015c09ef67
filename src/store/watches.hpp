// Watches: the (path, token) pairs one connection registered, and the rule that
// decides which of them a change fires and with which event path (reference 1.6).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "store/permissions.hpp"

namespace domus::store {

// One change to the tree (or a special path), as watches see it.
struct Change {
    std::string path;              // absolute, or @introduceDomain / @releaseDomain
    PermissionList perms;          // the node's permissions (before removal for RM)
    PermissionList old_perms;      // SET_PERMS: the previous list, else empty
    bool subtree_removed = false;  // RM: watches below `path` fire too, with their own path
};

struct Watch {
    std::string path;       // absolute or special
    std::string token;      // opaque to the store
    bool relative = false;  // registered relative: events are reported relative too
};

// The event path `watch` reports for `change`, or nothing if it does not fire. A watch
// fires for its own path and anything below it ("/a" fires for "/a/b", not "/ab");
// special paths match only exactly. `home` is the watcher's domain path.
std::optional<std::string> event_path(const Watch& watch, const Change& change,
                                      std::string_view home);

class WatchList {
public:
    // EEXIST if the same path and token are registered; ENOSPC past `limit` (0 = none).
    Result<void> add(Watch watch, std::size_t limit);
    // ENOENT if there is no watch with exactly this path and token.
    Result<void> remove(std::string_view path, std::string_view token);
    void clear() noexcept { watches_.clear(); }

    std::size_t size() const noexcept { return watches_.size(); }
    const std::vector<Watch>& all() const noexcept { return watches_; }

private:
    std::vector<Watch> watches_;
};

}  // namespace domus::store
