/* newlib's system calls, mapped onto the Domus kernel. There is no file system: fd 0 is
 * the console input, fds 1 and 2 the console output; everything else fails with errno
 * set. newlib calls the plain names (write, sbrk, ...); the _names are aliases. */
#include <domus/guest.h>

#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

#undef errno
extern int errno;
#define SET_ERRNO(e) (*__errno() = (e))

void* domus_heap_sbrk(intptr_t increment); /* kernel, mm.cpp (C linkage wrapper) */

#define ALIAS(name) __attribute__((alias(#name)))

/* Sockets (guest/net, linked only into apps with the network) own fds from 16 up. */
#define SOCKET_FD_BASE 16
ssize_t domus_socket_read(int fd, void* buf, size_t len) __attribute__((weak));
ssize_t domus_socket_write(int fd, const void* buf, size_t len) __attribute__((weak));
int domus_socket_close(int fd) __attribute__((weak));
int domus_socket_fcntl(int fd, int cmd, int value) __attribute__((weak));
#define IS_SOCKET(fd, hook) ((fd) >= SOCKET_FD_BASE && (hook))

_READ_WRITE_RETURN_TYPE write(int fd, const void* buf, size_t len)
{
    if (IS_SOCKET(fd, domus_socket_write))
        return domus_socket_write(fd, buf, len);
    if (fd != 1 && fd != 2) {
        SET_ERRNO(EBADF);
        return -1;
    }
    domus_console_write(buf, len);
    return (_READ_WRITE_RETURN_TYPE)len;
}
_READ_WRITE_RETURN_TYPE _write(int fd, const void* buf, size_t len) ALIAS(write);

_READ_WRITE_RETURN_TYPE read(int fd, void* buf, size_t len)
{
    if (IS_SOCKET(fd, domus_socket_read))
        return domus_socket_read(fd, buf, len);
    if (fd != 0) {
        SET_ERRNO(EBADF);
        return -1;
    }
    return (_READ_WRITE_RETURN_TYPE)domus_console_read(buf, len);
}
_READ_WRITE_RETURN_TYPE _read(int fd, void* buf, size_t len) ALIAS(read);

int close(int fd)
{
    if (fd >= 0 && fd <= 2)
        return 0;
    if (IS_SOCKET(fd, domus_socket_close))
        return domus_socket_close(fd);
    SET_ERRNO(EBADF);
    return -1;
}
int _close(int fd) ALIAS(close);

int fstat(int fd, struct stat* st)
{
    if (fd < 0 || fd > 2) {
        SET_ERRNO(EBADF);
        return -1;
    }
    memset(st, 0, sizeof *st);
    st->st_mode = S_IFCHR;
    return 0;
}
int _fstat(int fd, struct stat* st) ALIAS(fstat);

int isatty(int fd) { return fd >= 0 && fd <= 2; }
int _isatty(int fd) ALIAS(isatty);

off_t lseek(int fd, off_t off, int whence)
{
    (void)fd, (void)off, (void)whence;
    SET_ERRNO(ESPIPE);
    return -1;
}
off_t _lseek(int fd, off_t off, int whence) ALIAS(lseek);

int open(const char* path, int flags, ...)
{
    (void)path, (void)flags;
    SET_ERRNO(ENOENT);
    return -1;
}
int _open(const char* path, int flags, ...) ALIAS(open);

int stat(const char* restrict path, struct stat* restrict st)
{
    (void)path, (void)st;
    SET_ERRNO(ENOENT);
    return -1;
}
int _stat(const char* restrict path, struct stat* restrict st) ALIAS(stat);

int unlink(const char* path)
{
    (void)path;
    SET_ERRNO(ENOENT);
    return -1;
}
int _unlink(const char* path) ALIAS(unlink);

int link(const char* old, const char* new_path)
{
    (void)old, (void)new_path;
    SET_ERRNO(EMLINK);
    return -1;
}
int _link(const char* old, const char* new_path) ALIAS(link);

int mkdir(const char* path, mode_t mode)
{
    (void)path, (void)mode;
    SET_ERRNO(ENOSYS);
    return -1;
}

int fcntl(int fd, int cmd, ...)
{
    if (IS_SOCKET(fd, domus_socket_fcntl)) {
        va_list args;
        va_start(args, cmd);
        int value = va_arg(args, int);
        va_end(args);
        return domus_socket_fcntl(fd, cmd, value);
    }
    SET_ERRNO(ENOSYS);
    return -1;
}

int fork(void)
{
    SET_ERRNO(EAGAIN);
    return -1;
}
int _fork(void) ALIAS(fork);

int execve(const char* path, char* const argv[], char* const envp[])
{
    (void)path, (void)argv, (void)envp;
    SET_ERRNO(ENOMEM);
    return -1;
}
int _execve(const char* path, char* const argv[], char* const envp[]) ALIAS(execve);

int wait(int* status)
{
    (void)status;
    SET_ERRNO(ECHILD);
    return -1;
}
int _wait(int* status) ALIAS(wait);

int getpid(void) { return 1; }
int _getpid(void) ALIAS(getpid);

/* abort() and raise() end here: a signal to ourselves is a crash. */
int kill(int pid, int sig)
{
    if (pid != 1) {
        SET_ERRNO(ESRCH);
        return -1;
    }
    domus_panic("killed by signal %d", sig);
}
int _kill(int pid, int sig) ALIAS(kill);

int sigprocmask(int how, const sigset_t* set, sigset_t* old)
{
    (void)how, (void)set;
    if (old)
        memset(old, 0, sizeof *old);
    return 0;
}

void _exit(int code) { domus_poweroff(code); }

void* sbrk(ptrdiff_t increment)
{
    void* p = domus_heap_sbrk(increment);
    if (p == (void*)-1)
        SET_ERRNO(ENOMEM);
    return p;
}
void* _sbrk(ptrdiff_t increment) ALIAS(sbrk);

int gettimeofday(struct timeval* restrict tv, void* restrict tz)
{
    (void)tz;
    if (tv) {
        uint64_t ns = domus_wallclock_ns();
        tv->tv_sec = (time_t)(ns / 1000000000u);
        tv->tv_usec = (suseconds_t)(ns % 1000000000u / 1000u);
    }
    return 0;
}
int _gettimeofday(struct timeval* tv, void* tz) ALIAS(gettimeofday);

/* newlib's clock() divides by CLOCKS_PER_SEC (1000): report milliseconds of uptime. */
clock_t times(struct tms* buf)
{
    clock_t ms = (clock_t)(domus_monotonic_ns() / 1000000u);
    if (buf) {
        buf->tms_utime = ms;
        buf->tms_stime = 0;
        buf->tms_cutime = 0;
        buf->tms_cstime = 0;
    }
    return ms;
}
clock_t _times(struct tms* buf) ALIAS(times);

int clock_gettime(clockid_t clock, struct timespec* ts)
{
    uint64_t ns;
    if (clock == CLOCK_REALTIME)
        ns = domus_wallclock_ns();
    else if (clock == CLOCK_MONOTONIC || clock == 5 /* RAW */ || clock == 6 /* COARSE */)
        ns = domus_monotonic_ns();
    else {
        SET_ERRNO(EINVAL);
        return -1;
    }
    ts->tv_sec = (time_t)(ns / 1000000000u);
    ts->tv_nsec = (long)(ns % 1000000000u);
    return 0;
}

int clock_getres(clockid_t clock, struct timespec* res)
{
    (void)clock;
    if (res) {
        res->tv_sec = 0;
        res->tv_nsec = 1;
    }
    return 0;
}

int nanosleep(const struct timespec* req, struct timespec* rem)
{
    if (!req || req->tv_nsec < 0 || req->tv_nsec >= 1000000000 || req->tv_sec < 0) {
        SET_ERRNO(EINVAL);
        return -1;
    }
    domus_sleep_ns((uint64_t)req->tv_sec * 1000000000u + (uint64_t)req->tv_nsec);
    if (rem)
        rem->tv_sec = rem->tv_nsec = 0;
    return 0;
}

int usleep(useconds_t us)
{
    domus_sleep_us(us);
    return 0;
}

unsigned sleep(unsigned seconds)
{
    domus_sleep_ms((uint64_t)seconds * 1000u);
    return 0;
}

int sched_yield(void)
{
    domus_yield();
    return 0;
}

int getentropy(void* buf, size_t len)
{
    /* Not cryptographic: the TSC mixed through splitmix64. */
    unsigned char* out = buf;
    for (size_t i = 0; i < len; i += 8) {
        uint32_t lo, hi;
        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
        uint64_t z = (((uint64_t)hi << 32) | lo) + 0x9e3779b97f4a7c15ull * (i + 1);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        for (size_t j = 0; j < 8 && i + j < len; ++j)
            out[i + j] = (unsigned char)(z >> (8 * j));
    }
    return 0;
}

int posix_memalign(void** out, size_t align, size_t size)
{
    if (align < sizeof(void*) || (align & (align - 1)))
        return EINVAL;
    void* p = memalign(align, size);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

/* The vCPUs as POSIX counts them: online now (they change with vcpu-set) and configured
 * (the domain's maxvcpus). */
long sysconf(int name)
{
    switch (name) {
    case _SC_NPROCESSORS_ONLN:
        return (long)domus_vcpu_count();
    case _SC_NPROCESSORS_CONF:
        return (long)domus_vcpu_max();
    case _SC_PAGESIZE:
        return 4096;
    default:
        SET_ERRNO(EINVAL);
        return -1;
    }
}
