// Node permissions: the "n0 r5 b7" list of reference 1.5, parsing and formatting,
// and the access a caller gets from a list.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "store/path.hpp"

namespace domus::store {

// Access bits, as libxenstore numbers them (XS_PERM_*).
inline constexpr std::uint8_t kAccessNone = 0;
inline constexpr std::uint8_t kAccessRead = 1;
inline constexpr std::uint8_t kAccessWrite = 2;
inline constexpr std::uint8_t kAccessOwner = 8;  // may SET_PERMS; computed, never stored

struct Permission {
    DomainId domid = 0;
    std::uint8_t access = kAccessNone;  // kAccessRead | kAccessWrite subset
    bool operator==(const Permission&) const = default;
};

// Entry 0 names the owner and the access of every domain without an entry of its own.
using PermissionList = std::vector<Permission>;

// Who is asking: the connection's domain, whether it bypasses checks (dom0, the
// socket), and the domain it acts for after SET_TARGET.
struct Caller {
    DomainId domid = 0;
    bool privileged = false;
    std::optional<DomainId> target;
};

// "r5" -> {5, read}. Letters n/r/w/b, then a decimal domid below 65536. EINVAL otherwise.
Result<Permission> parse_permission(std::string_view text);
std::string format_permission(const Permission& permission);

// The access bits (kAccess*) `caller` has on a node with `perms`: everything for a
// privileged caller, the owner, or the owner's controller (SET_TARGET); else the
// first matching entry after the owner; else the owner entry's letter.
std::uint8_t access_for(const PermissionList& perms, const Caller& caller) noexcept;

}  // namespace domus::store
