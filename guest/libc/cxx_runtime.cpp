// The little of the C++ runtime that freestanding apps need: operator new/delete over
// malloc (no exceptions: running out of memory is a panic), pure virtual calls and
// static-destructor registration (destructors do not run at poweroff).
#include <domus/guest.h>

#include <malloc.h>
#include <new>
#include <stdlib.h>

namespace {

void* checked(void* p, size_t size)
{
    if (!p)
        domus_panic("operator new: out of memory (%zu bytes)", size);
    return p;
}

} // namespace

void* operator new(size_t size) { return checked(malloc(size ? size : 1), size); }
void* operator new[](size_t size) { return checked(malloc(size ? size : 1), size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept { return malloc(size ? size : 1); }
void* operator new[](size_t size, const std::nothrow_t&) noexcept
{
    return malloc(size ? size : 1);
}
void* operator new(size_t size, std::align_val_t a)
{
    return checked(memalign(size_t(a), size ? size : 1), size);
}
void* operator new[](size_t size, std::align_val_t a)
{
    return checked(memalign(size_t(a), size ? size : 1), size);
}
void operator delete(void* p) noexcept { free(p); }
void operator delete[](void* p) noexcept { free(p); }
void operator delete(void* p, size_t) noexcept { free(p); }
void operator delete[](void* p, size_t) noexcept { free(p); }
void operator delete(void* p, std::align_val_t) noexcept { free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { free(p); }

extern "C" {

void* __dso_handle = nullptr;

void __cxa_pure_virtual() { domus_panic("pure virtual function called"); }

int __cxa_atexit(void (*)(void*), void*, void*) { return 0; }

int __cxa_guard_acquire(long long* guard) { return !*reinterpret_cast<char*>(guard); }
void __cxa_guard_release(long long* guard) { *reinterpret_cast<char*>(guard) = 1; }
void __cxa_guard_abort(long long*) { }

} // extern "C"
