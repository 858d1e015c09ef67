// Blocking synchronisation for threads: mutexes (plain and recursive, with hand-off to
// the first waiter), condition variables and counting semaphores, all queued on the
// scheduler lock. Uncontended mutexes never take it.
#pragma once

#include <domus/guest.h>

namespace domus::guest {

void mutex_lock(domus_mutex_t* m);
bool mutex_trylock(domus_mutex_t* m);
void mutex_unlock(domus_mutex_t* m);
void cond_wait(domus_cond_t* c, domus_mutex_t* m);
bool cond_wait_until(domus_cond_t* c, domus_mutex_t* m, uint64_t deadline_ns); // false: timed out
void cond_signal(domus_cond_t* c);
void cond_broadcast(domus_cond_t* c);
void sem_down(domus_sem_t* s);
bool sem_down_until(domus_sem_t* s, uint64_t deadline_ns); // false: timed out
bool sem_trydown(domus_sem_t* s);
void sem_up(domus_sem_t* s);

} // namespace domus::guest
