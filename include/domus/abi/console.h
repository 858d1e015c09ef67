/* Domus guest ABI: the console ring page and console_io (hypercall 18),
 * after xen/include/public/io/console.h and xen.h. */
#ifndef DOMUS_ABI_CONSOLE_H
#define DOMUS_ABI_CONSOLE_H

#include "xen.h"

/* console_io(cmd, count, buf): early, unbuffered output; one exit per call. */
#define CONSOLEIO_write 0
#define CONSOLEIO_read 1
#define DOMUS_CONSOLEIO_MAX 4096 /* longer writes are truncated */

typedef uint32_t XENCONS_RING_IDX;
#define MASK_XENCONS_IDX(idx, ring) ((idx) & (sizeof(ring) - 1))

/* At start_info.console.mfn. Indices run freely; the producer writes the data, a
 * write barrier, then prod, then notifies start_info.console.evtchn. */
struct xencons_interface {
    char in[1024];  /* monitor -> guest (keyboard) */
    char out[2048]; /* guest -> monitor (screen) */
    XENCONS_RING_IDX in_cons, in_prod;
    XENCONS_RING_IDX out_cons, out_prod;
    uint8_t connection;
};
DOMUS_ABI_STATIC_ASSERT(__builtin_offsetof(struct xencons_interface, in_cons) == 3072, "layout");

#endif
