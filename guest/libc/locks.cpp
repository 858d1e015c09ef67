// newlib's retargetable locks on kernel mutexes. Every lock is recursive (a superset of
// the plain semantics); the static ones newlib names are defined here.
#include "sync.hpp"

#include <stdlib.h>
#include <sys/lock.h>

struct __lock {
    domus_mutex_t mutex;
};

extern "C" {

struct __lock __lock___sinit_recursive_mutex = { DOMUS_RECURSIVE_MUTEX_INIT };
struct __lock __lock___sfp_recursive_mutex = { DOMUS_RECURSIVE_MUTEX_INIT };
struct __lock __lock___atexit_recursive_mutex = { DOMUS_RECURSIVE_MUTEX_INIT };
struct __lock __lock___at_quick_exit_mutex = { DOMUS_RECURSIVE_MUTEX_INIT };
struct __lock __lock___malloc_recursive_mutex = { DOMUS_RECURSIVE_MUTEX_INIT };
struct __lock __lock___env_recursive_mutex = { DOMUS_RECURSIVE_MUTEX_INIT };
struct __lock __lock___tz_mutex = { DOMUS_RECURSIVE_MUTEX_INIT };
struct __lock __lock___dd_hash_mutex = { DOMUS_RECURSIVE_MUTEX_INIT };
struct __lock __lock___arc4random_mutex = { DOMUS_RECURSIVE_MUTEX_INIT };

void __retarget_lock_init(_LOCK_T* lock)
{
    auto* l = static_cast<struct __lock*>(malloc(sizeof(struct __lock)));
    if (l)
        *l = __lock { DOMUS_RECURSIVE_MUTEX_INIT };
    *lock = l;
}

void __retarget_lock_init_recursive(_LOCK_T* lock) { __retarget_lock_init(lock); }

void __retarget_lock_close(_LOCK_T lock) { free(lock); }
void __retarget_lock_close_recursive(_LOCK_T lock) { free(lock); }

void __retarget_lock_acquire(_LOCK_T lock)
{
    if (lock)
        domus::guest::mutex_lock(&lock->mutex);
}
void __retarget_lock_acquire_recursive(_LOCK_T lock) { __retarget_lock_acquire(lock); }

int __retarget_lock_try_acquire(_LOCK_T lock)
{
    return lock ? domus::guest::mutex_trylock(&lock->mutex) : 1;
}
int __retarget_lock_try_acquire_recursive(_LOCK_T lock)
{
    return __retarget_lock_try_acquire(lock);
}

void __retarget_lock_release(_LOCK_T lock)
{
    if (lock)
        domus::guest::mutex_unlock(&lock->mutex);
}
void __retarget_lock_release_recursive(_LOCK_T lock) { __retarget_lock_release(lock); }

} // extern "C"
