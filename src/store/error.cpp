// Mapping between XsError values, their wire names and domus::Error.
#include "store/error.hpp"

#include <domus/abi/xs_wire.h>

namespace domus::store {

std::string_view error_name(XsError error) noexcept {
    switch (static_cast<int>(error)) {
#define DOMUS_XS_ERROR_CASE(name, number) \
    case number:                          \
        return #name;
        XSD_ERRORS(DOMUS_XS_ERROR_CASE)
#undef DOMUS_XS_ERROR_CASE
    }
    return "EIO";
}

Error xs_error(XsError error) {
    return Error{std::string(error_name(error)), static_cast<int>(error)};
}

XsError xs_error_of(const Error& error) noexcept {
    switch (error.code) {
#define DOMUS_XS_ERROR_CASE(name, number) \
    case number:                          \
        return static_cast<XsError>(number);
        XSD_ERRORS(DOMUS_XS_ERROR_CASE)
#undef DOMUS_XS_ERROR_CASE
    }
    return XsError::Io;
}

}  // namespace domus::store
