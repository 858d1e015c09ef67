// The store's error vocabulary: the XenStore error names of xs_wire.h as an enum,
// carried in domus::Error::code so that store functions return ordinary Result<T>.
#pragma once

#include <string_view>

#include "base/result.hpp"

namespace domus::store {

// One value per XSD_ERRORS name; the number is the errno the name stands for.
enum class XsError : int {
    Inval = 22,     // malformed request, bad path or permission string
    Acces = 13,     // permission denied, or a privileged request from a guest
    Exist = 17,     // watch already registered
    IsDir = 21,     // defined by the protocol, never produced
    NoEnt = 2,      // node, transaction or watch missing
    NoMem = 12,     // out of memory
    NoSpc = 28,     // a quota was hit
    Io = 5,         // internal error
    NotEmpty = 39,  // defined by the protocol, never produced
    NoSys = 38,     // unknown or unsupported message type
    RoFs = 30,      // historic read-only socket; never produced
    Busy = 16,      // TRANSACTION_START inside a transaction
    Again = 11,     // transaction conflict: retry
    IsConn = 106,   // defined by the protocol, never produced
    TooBig = 7,     // reply would exceed XENSTORE_PAYLOAD_MAX
    Perm = 1,       // unprivileged owner change in SET_PERMS
};

// The wire name ("EINVAL", ...) of an error.
std::string_view error_name(XsError error) noexcept;

// Builds a Result error carrying `error` in Error::code.
Error xs_error(XsError error);

// The XsError in a Result error; EIO for codes that are not XenStore errors.
XsError xs_error_of(const Error& error) noexcept;

}  // namespace domus::store
