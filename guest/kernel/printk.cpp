// Kernel formatted output onto the console (see printk.hpp).
#include "printk.hpp"

#include "console.hpp"

#include <stdint.h>

namespace domus::guest {

namespace {

    struct Out {
        char* buf;
        size_t size;
        size_t len = 0;
        void put(char c)
        {
            if (len + 1 < size)
                buf[len] = c;
            ++len;
        }
    };

    void put_number(Out& o, uint64_t v, unsigned base, bool upper, bool negative, int width,
        bool zero, bool left)
    {
        char tmp[24];
        int n = 0;
        const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
        do {
            tmp[n++] = digits[v % base];
            v /= base;
        } while (v);
        int total = n + (negative ? 1 : 0);
        if (!left && !zero)
            for (; total < width; ++total)
                o.put(' ');
        if (negative)
            o.put('-');
        if (!left && zero)
            for (; total < width; ++total)
                o.put('0');
        while (n)
            o.put(tmp[--n]);
        for (; left && total < width; ++total)
            o.put(' ');
    }

} // namespace

int kvsnprintf(char* buf, size_t size, const char* fmt, va_list ap)
{
    Out o { buf, size };
    for (const char* p = fmt; *p; ++p) {
        if (*p != '%') {
            o.put(*p);
            continue;
        }
        ++p;
        bool left = false, zero = false;
        for (;; ++p) {
            if (*p == '-')
                left = true;
            else if (*p == '0')
                zero = true;
            else
                break;
        }
        int width = 0;
        while (*p >= '0' && *p <= '9')
            width = width * 10 + (*p++ - '0');
        int longs = 0;
        while (*p == 'l' || *p == 'z') {
            longs = *p == 'z' ? 2 : longs + 1;
            ++p;
        }
        switch (*p) {
        case 'd':
        case 'i': {
            int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
            put_number(o, v < 0 ? uint64_t(0) - uint64_t(v) : uint64_t(v), 10, false, v < 0, width,
                zero, left);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            uint64_t v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            put_number(o, v, *p == 'u' ? 10 : 16, *p == 'X', false, width, zero, left);
            break;
        }
        case 'p':
            o.put('0');
            o.put('x');
            put_number(o, reinterpret_cast<uint64_t>(va_arg(ap, void*)), 16, false, false, 0, false,
                false);
            break;
        case 's': {
            const char* s = va_arg(ap, const char*);
            if (!s)
                s = "(null)";
            int n = 0;
            while (s[n])
                ++n;
            for (int i = n; !left && i < width; ++i)
                o.put(' ');
            for (int i = 0; i < n; ++i)
                o.put(s[i]);
            for (int i = n; left && i < width; ++i)
                o.put(' ');
            break;
        }
        case 'c':
            o.put(char(va_arg(ap, int)));
            break;
        case '%':
            o.put('%');
            break;
        case '\0':
            --p;
            break;
        default:
            o.put('%');
            o.put(*p);
            break;
        }
    }
    if (size)
        buf[o.len < size ? o.len : size - 1] = '\0';
    return int(o.len);
}

int ksnprintf(char* buf, size_t size, const char* fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = kvsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int vprintk(const char* fmt, va_list ap)
{
    char buf[512];
    int n = kvsnprintf(buf, sizeof buf, fmt, ap);
    console_write(buf, n < int(sizeof buf) ? size_t(n) : sizeof buf - 1);
    return n;
}

int printk(const char* fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintk(fmt, ap);
    va_end(ap);
    return n;
}

} // namespace domus::guest
