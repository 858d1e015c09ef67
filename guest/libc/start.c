/* The application's start: stdio set up once for all threads, C/C++ constructors, then
 * main(); its return value goes through exit() (atexit handlers, stdio flush) to
 * _exit(), which powers the domain off with that code. Runs in the kernel's "main" thread. */
#include <reent.h>
#include <stdlib.h>

extern int main(int argc, char** argv);
extern void __sinit(struct _reent*);
extern void domus_libc_use_global_reent(void);

typedef void (*init_fn)(void);
extern init_fn __init_array_start[], __init_array_end[];

int domus_libc_main(int argc, char** argv)
{
    domus_libc_use_global_reent();
    __sinit(_GLOBAL_REENT);
    for (init_fn* f = __init_array_start; f < __init_array_end; ++f)
        (*f)();
    exit(main(argc, argv));
}
