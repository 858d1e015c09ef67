// Replaces the global operator new of the test executable that links this file: malloc,
// unless a fault armed by fail_allocation() is due on this thread.
#include "allocation_fault.hpp"

#include <cstdlib>
#include <new>

namespace domus::store::testing {
namespace {
thread_local unsigned g_countdown = 0;  // 0: no fault armed
}  // namespace

void fail_allocation(unsigned nth) noexcept {
    g_countdown = nth;
}

void cancel_allocation_fault() noexcept {
    g_countdown = 0;
}

}  // namespace domus::store::testing

void* operator new(std::size_t size) {
    using namespace domus::store::testing;
    if (g_countdown != 0 && --g_countdown == 0) throw InjectedFault{};
    if (void* p = std::malloc(size != 0 ? size : 1)) return p;
    throw std::bad_alloc();
}

void operator delete(void* p) noexcept {
    std::free(p);
}

void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
