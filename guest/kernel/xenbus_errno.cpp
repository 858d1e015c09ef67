// XS_ERROR replies carry an errno *name* ("ENOENT\0"); map it to the guest C library's
// number for the same name (newlib's numbers differ from Linux's for several of them).
#include "xenbus.hpp"

#include <errno.h>
#include <string.h>

namespace domus::guest::xenbus {

namespace {

    struct ErrorName {
        const char* name;
        int value;
    };

// XSD_ERRORS lists the names in Xen's order with Linux's numbers; #name is taken before
// macro expansion, `name` after it, i.e. <errno.h>'s value.
#define DOMUS_XS_ERROR_ENTRY(name, linux_value) { #name, name },
    constexpr ErrorName kErrors[] = { XSD_ERRORS(DOMUS_XS_ERROR_ENTRY) };
#undef DOMUS_XS_ERROR_ENTRY
    static_assert(sizeof kErrors / sizeof kErrors[0] == XSD_ERROR_COUNT);

} // namespace

int error_from_name(const char* name, size_t len)
{
    size_t n = strnlen(name, len); // the NUL is part of the payload; tolerate its absence
    for (const ErrorName& e : kErrors)
        if (strlen(e.name) == n && memcmp(e.name, name, n) == 0)
            return -e.value;
    return -EINVAL; // as libxenstore does for names it does not know
}

} // namespace domus::guest::xenbus
