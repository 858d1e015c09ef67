// ConsoleRing: the backend's end of one xencons_interface page (include/domus/abi/
// console.h) shared with an untrusted frontend: `out` carries guest -> host bytes, `in`
// host -> guest. The backend's own indices (out_cons, in_prod) are kept here and only
// published to the page, never read back from it; each call reads the frontend's index
// once, checks it against the buffer size before touching a byte, copies, then publishes
// its own index (release), so the frontend may reuse the space only after the copy.
// Serves the primary console and the secondary ones (channels).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <domus/abi/console.h>

namespace domus::backends {

class ConsoleRing {
public:
    // `page` is the mapped ring page (at least sizeof(xencons_interface) bytes). Our
    // indices start from the page's (read once, here); marks the ring connected (the
    // `connection` byte of Xen 4.21+).
    explicit ConsoleRing(std::span<std::byte> page);

    // Appends up to `max` bytes the frontend produced on `out` to `into`. The number of
    // bytes taken, or nothing when the frontend's out_prod is impossible (more than the
    // buffer holds): the ring is broken and nothing was taken.
    std::optional<std::size_t> take_output(std::string& into, std::size_t max);
    // Puts as much of `bytes` on `in` as fits. The number of bytes put, or nothing when
    // the frontend's in_cons is impossible.
    std::optional<std::size_t> put_input(std::string_view bytes);
    // Bytes on `out` not taken yet (0 when the index is impossible): for tests and stats.
    std::size_t output_pending() const;
    // Skips whatever the frontend claims to have produced (after an impossible out_prod,
    // for a backend that keeps serving a confused guest rather than closing the ring).
    void skip_output();

private:
    xencons_interface* ring_;
    XENCONS_RING_IDX out_cons_;  // ours; the page's copy is for the frontend only
    XENCONS_RING_IDX in_prod_;   // likewise
};

}  // namespace domus::backends
