// XenStore paths: validation, resolution of relative paths against a domain's home
// (/local/domain/<id>), and the prefix relations that watches and subtrees use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace domus::store {

using DomainId = std::uint16_t;

inline constexpr std::string_view kIntroduceDomain = "@introduceDomain";
inline constexpr std::string_view kReleaseDomain = "@releaseDomain";

// True for the two special watch/permission paths.
bool is_special_path(std::string_view path) noexcept;

// "/local/domain/<domid>": the prefix relative paths from that domain resolve against.
std::string domain_home(DomainId domid);

struct PathRules {
    bool allow_special = false;    // accept @introduceDomain / @releaseDomain
    std::size_t relative_max = 0;  // limit on a relative path's length; 0 = none
};

// A validated, absolute (or special) path; `relative` says how the client wrote it.
struct ResolvedPath {
    std::string path;
    bool relative = false;
};

// Checks `raw` (characters [A-Za-z0-9/_@-], no "//", no trailing '/' except "/",
// not empty, at most XENSTORE_ABS_PATH_MAX once absolute) and makes it absolute
// against `home`'s domain path. Errors: EINVAL.
Result<ResolvedPath> resolve_path(std::string_view raw, DomainId home, const PathRules& rules);

// The parent of an absolute path other than "/": "/a/b" -> "/a", "/a" -> "/".
std::string_view parent_path(std::string_view path) noexcept;

// The last component of an absolute path other than "/": "/a/b" -> "b".
std::string_view base_name(std::string_view path) noexcept;

// True if `path` is `ancestor` or lies below it ("/a/b" under "/a", not "/ab").
bool is_same_or_below(std::string_view path, std::string_view ancestor) noexcept;

// `path` as a client with home `home` that used relative paths would write it: the
// home prefix stripped when present, else `path` unchanged.
std::string_view relative_to_home(std::string_view path, std::string_view home_prefix) noexcept;

}  // namespace domus::store
