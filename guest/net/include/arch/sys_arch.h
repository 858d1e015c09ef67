/* lwIP's operating-system types on the Domus guest kernel: semaphores, mutexes and
 * threads are the kernel's own; a mailbox is a ring of pointers between two
 * semaphores (free slots, filled slots), so timed fetches are timed semaphore waits. */
#ifndef DOMUS_LWIP_ARCH_SYS_ARCH_H
#define DOMUS_LWIP_ARCH_SYS_ARCH_H

#include <domus/guest.h>

typedef struct {
    domus_sem_t sem;
    int valid;
} sys_sem_t;

typedef struct {
    domus_mutex_t mutex;
    int valid;
} sys_mutex_t;

struct domus_mbox;
typedef struct domus_mbox* sys_mbox_t;
typedef domus_thread_t* sys_thread_t;
typedef int sys_prot_t;

#define sys_sem_valid(s) ((s) != NULL && (s)->valid)
#define sys_sem_set_invalid(s) ((s)->valid = 0)
#define sys_sem_valid_val(s) ((s).valid)
#define sys_sem_set_invalid_val(s) ((s).valid = 0)
#define sys_mutex_valid(m) ((m) != NULL && (m)->valid)
#define sys_mutex_set_invalid(m) ((m)->valid = 0)
#define sys_mbox_valid(mb) ((mb) != NULL && *(mb) != NULL)
#define sys_mbox_set_invalid(mb) (*(mb) = NULL)
#define sys_mbox_valid_val(mb) ((mb) != NULL)
#define sys_mbox_set_invalid_val(mb) ((mb) = NULL)

#endif
