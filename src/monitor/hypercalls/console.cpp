// console_io: the guest's direct console, before (or instead of) the console ring.
// Copies through a fixed stack buffer: the guest's bytes are never used in place.
#include <algorithm>
#include <cstring>

#include "monitor/hypercalls/families.hpp"

#include <domus/abi/console.h>

namespace domus::monitor::hypercalls {

std::int64_t console_io(HypercallDomain& domain, ConsoleIoArgs args) noexcept {
    const std::uint64_t count = std::min<std::uint64_t>(args.count(), DOMUS_CONSOLEIO_MAX);
    char copy[DOMUS_CONSOLEIO_MAX];
    switch (args.cmd()) {
        case CONSOLEIO_write: {
            auto bytes = domain.memory().range(args.buffer().gpa, count);
            if (!bytes) return -XEN_EFAULT;
            if (count == 0) return 0;
            std::memcpy(copy, bytes->data(), count);
            domain.console_write({copy, count});
            return std::int64_t(count);
        }
        case CONSOLEIO_read: {
            auto bytes = domain.memory().range(args.buffer().gpa, count);
            if (!bytes) return -XEN_EFAULT;
            if (count == 0) return 0;
            std::size_t n = std::min<std::size_t>(domain.console_read({copy, count}), count);
            std::memcpy(bytes->data(), copy, n);
            return std::int64_t(n);
        }
        default:
            return -XEN_ENOSYS;
    }
}

}  // namespace domus::monitor::hypercalls
