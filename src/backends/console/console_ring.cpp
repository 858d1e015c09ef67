// ConsoleRing: Xen's console index discipline, with the frontend's index read once.
#include "backends/console/console_ring.hpp"

#include <atomic>
#include <cassert>

namespace domus::backends {
namespace {

template <class T>
std::atomic_ref<T> shared(T& value) {
    return std::atomic_ref<T>(value);
}

constexpr XENCONS_RING_IDX kOutSize = sizeof(xencons_interface::out);
constexpr XENCONS_RING_IDX kInSize = sizeof(xencons_interface::in);

}  // namespace

ConsoleRing::ConsoleRing(std::span<std::byte> page)
    : ring_(reinterpret_cast<xencons_interface*>(page.data())),
      out_cons_(shared(ring_->out_cons).load(std::memory_order_relaxed)),
      in_prod_(shared(ring_->in_prod).load(std::memory_order_relaxed)) {
    assert(page.size() >= sizeof(xencons_interface));
    shared(ring_->connection).store(0, std::memory_order_release);
}

std::optional<std::size_t> ConsoleRing::take_output(std::string& into, std::size_t max) {
    // out_prod is read once (acquire: the bytes before it are visible) and checked
    // before anything is copied.
    XENCONS_RING_IDX prod = shared(ring_->out_prod).load(std::memory_order_acquire);
    XENCONS_RING_IDX used = prod - out_cons_;
    if (used > kOutSize) return std::nullopt;
    std::size_t n = used < max ? used : max;
    for (std::size_t i = 0; i < n; ++i)
        into.push_back(
            shared(ring_->out[MASK_XENCONS_IDX(out_cons_ + XENCONS_RING_IDX(i), ring_->out)])
                .load(std::memory_order_relaxed));
    out_cons_ += XENCONS_RING_IDX(n);
    // Release: our copy is complete before the frontend sees the space as free.
    shared(ring_->out_cons).store(out_cons_, std::memory_order_release);
    return n;
}

std::optional<std::size_t> ConsoleRing::put_input(std::string_view bytes) {
    XENCONS_RING_IDX cons = shared(ring_->in_cons).load(std::memory_order_acquire);
    XENCONS_RING_IDX used = in_prod_ - cons;
    if (used > kInSize) return std::nullopt;
    std::size_t room = kInSize - used;
    std::size_t n = bytes.size() < room ? bytes.size() : room;
    for (std::size_t i = 0; i < n; ++i)
        shared(ring_->in[MASK_XENCONS_IDX(in_prod_ + XENCONS_RING_IDX(i), ring_->in)])
            .store(bytes[i], std::memory_order_relaxed);
    in_prod_ += XENCONS_RING_IDX(n);
    // Release: the bytes are visible before the new producer index.
    shared(ring_->in_prod).store(in_prod_, std::memory_order_release);
    return n;
}

std::size_t ConsoleRing::output_pending() const {
    XENCONS_RING_IDX prod = shared(ring_->out_prod).load(std::memory_order_acquire);
    XENCONS_RING_IDX used = prod - out_cons_;
    return used > kOutSize ? 0 : used;
}

void ConsoleRing::skip_output() {
    out_cons_ = shared(ring_->out_prod).load(std::memory_order_acquire);
    shared(ring_->out_cons).store(out_cons_, std::memory_order_release);
}

}  // namespace domus::backends
