// Permission strings and the access rule of reference section 1.5.
#include "store/permissions.hpp"

#include "store/error.hpp"

namespace domus::store {

Result<Permission> parse_permission(std::string_view text) {
    if (text.size() < 2 || text.size() > 6) return xs_error(XsError::Inval);
    Permission permission;
    switch (text[0]) {
        case 'n':
            permission.access = kAccessNone;
            break;
        case 'r':
            permission.access = kAccessRead;
            break;
        case 'w':
            permission.access = kAccessWrite;
            break;
        case 'b':
            permission.access = kAccessRead | kAccessWrite;
            break;
        default:
            return xs_error(XsError::Inval);
    }
    std::uint32_t domid = 0;
    for (char c : text.substr(1)) {
        if (c < '0' || c > '9') return xs_error(XsError::Inval);
        domid = domid * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (domid > 0xFFFF) return xs_error(XsError::Inval);
    permission.domid = static_cast<DomainId>(domid);
    return permission;
}

std::string format_permission(const Permission& permission) {
    char letter = 'n';
    if (permission.access == (kAccessRead | kAccessWrite))
        letter = 'b';
    else if (permission.access == kAccessRead)
        letter = 'r';
    else if (permission.access == kAccessWrite)
        letter = 'w';
    return letter + std::to_string(permission.domid);
}

std::uint8_t access_for(const PermissionList& perms, const Caller& caller) noexcept {
    constexpr std::uint8_t kAll = kAccessRead | kAccessWrite | kAccessOwner;
    if (caller.privileged || perms.empty()) return caller.privileged ? kAll : kAccessNone;
    DomainId owner = perms.front().domid;
    if (caller.domid == owner || (caller.target && *caller.target == owner)) return kAll;
    for (std::size_t i = 1; i < perms.size(); ++i)
        if (perms[i].domid == caller.domid) return perms[i].access;
    return perms.front().access;
}

}  // namespace domus::store
