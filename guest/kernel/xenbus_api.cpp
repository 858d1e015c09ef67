// The C API of <domus/xenbus.h> (watches are in xenbus_watch.cpp): each call is one
// request, or a few (large directories), built from the caller's strings.
#include "printk.hpp"
#include "xenbus.hpp"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

using namespace domus::guest;
using namespace domus::guest::xenbus;

namespace {

int no_store() { return ring_failed() ? -EIO : -ENODEV; }

Part str_part(const char* s) { return Part { s, strlen(s) + 1 }; } // with its NUL

// Copies up to size-1 bytes and a NUL; returns len (snprintf-like).
int copy_out(const char* data, size_t len, char* buf, size_t size)
{
    if (size) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(buf, data, n);
        buf[n] = '\0';
    }
    return int(len);
}

// The child list of path: NUL-terminated names one after another, malloc'd into *list
// (null when empty), *len bytes. Lists over 4096 bytes come back from DIRECTORY as
// E2BIG; then DIRECTORY_PART reads them in parts, starting over if the node changes
// (its generation) between parts.
int read_directory(xenbus_transaction_t tx, const char* path, char** list, size_t* len)
{
    *list = nullptr;
    *len = 0;
    Part p = str_part(path);
    Reply r;
    int rc = request(XS_DIRECTORY, tx, &p, 1, &r);
    if (rc == 0) {
        *list = r.data;
        *len = r.len;
        if (r.len && r.data[r.len - 1] != '\0')
            ++*len; // the last name lacked its NUL: use the one xenbus-rx added
        return 0;
    }
    if (rc != -E2BIG)
        return rc;

    for (int attempt = 0; attempt < 8; ++attempt) {
        char* acc = nullptr;
        size_t acc_len = 0;
        char gen[24] = "";
        bool restart = false;
        for (;;) {
            char offset[24];
            ksnprintf(offset, sizeof offset, "%zu", acc_len);
            Part parts[] = { str_part(path), str_part(offset) };
            rc = request(XS_DIRECTORY_PART, tx, parts, 2, &r);
            if (rc < 0) {
                free(acc);
                return rc;
            }
            // "gen\0child\0...", the last part ends with an extra "\0".
            size_t glen = strnlen(r.data, r.len);
            if (glen == r.len || glen >= sizeof gen) {
                free(r.data);
                free(acc);
                return -EIO;
            }
            if (!gen[0]) {
                memcpy(gen, r.data, glen + 1);
            } else if (strcmp(gen, r.data) != 0) {
                restart = true; // changed under us
                free(r.data);
                break;
            }
            const char* names = r.data + glen + 1;
            size_t names_len = r.len - glen - 1;
            bool last = names_len == 0
                || (names[names_len - 1] == '\0'
                    && (names_len == 1 || names[names_len - 2] == '\0'));
            if (last && names_len)
                --names_len; // drop the terminating empty string
            if (!last && names_len == 0) { // no progress: the store is confused
                free(r.data);
                free(acc);
                return -EIO;
            }
            if (names_len) {
                char* grown = static_cast<char*>(realloc(acc, acc_len + names_len));
                if (!grown) {
                    free(r.data);
                    free(acc);
                    return -ENOMEM;
                }
                acc = grown;
                memcpy(acc + acc_len, names, names_len);
                acc_len += names_len;
            }
            free(r.data);
            if (last)
                break;
        }
        if (!restart) {
            *list = acc;
            *len = acc_len;
            return 0;
        }
        free(acc);
    }
    return -EAGAIN;
}

// The common start of the calls that send one path and get data back.
int path_request(
    uint32_t type, xenbus_transaction_t tx, const char* path, char* buf, size_t size, Reply* r)
{
    if (!enabled())
        return no_store();
    if (!path || (!buf && size))
        return -EINVAL;
    Part p = str_part(path);
    return request(type, tx, &p, 1, r);
}

// The common start of the directory calls: read_directory after the checks of the
// store and of the arguments (`args_ok`: the rest of them).
int directory_request(
    xenbus_transaction_t tx, const char* path, bool args_ok, char** list, size_t* len)
{
    if (!enabled())
        return no_store();
    if (!path || !args_ok)
        return -EINVAL;
    return read_directory(tx, path, list, len);
}

// The calls that send one path and get only "OK" back (mkdir, rm).
int path_command(uint32_t type, xenbus_transaction_t tx, const char* path)
{
    if (!enabled())
        return no_store();
    if (!path)
        return -EINVAL;
    Part p = str_part(path);
    return request_ok(type, tx, &p, 1);
}

} // namespace

extern "C" {

int xenbus_available(void) { return enabled() ? 1 : 0; }

int xenbus_read(xenbus_transaction_t tx, const char* path, char* buf, size_t size)
{
    Reply r;
    int rc = path_request(XS_READ, tx, path, buf, size, &r);
    if (rc < 0)
        return rc;
    rc = copy_out(r.data, r.len, buf, size);
    free(r.data);
    return rc;
}

int xenbus_write_bytes(xenbus_transaction_t tx, const char* path, const void* data, size_t len)
{
    if (!enabled())
        return no_store();
    if (!path || (!data && len))
        return -EINVAL;
    Part parts[] = { str_part(path), { data, len } };
    return request_ok(XS_WRITE, tx, parts, 2);
}

int xenbus_write(xenbus_transaction_t tx, const char* path, const char* value)
{
    if (!value)
        return -EINVAL;
    return xenbus_write_bytes(tx, path, value, strlen(value));
}

int xenbus_printf(xenbus_transaction_t tx, const char* dir, const char* node, const char* fmt, ...)
{
    if (!enabled())
        return no_store();
    if (!fmt || ((!dir || !*dir) && (!node || !*node)))
        return -EINVAL;
    size_t dlen = dir ? strlen(dir) : 0, nlen = node ? strlen(node) : 0;
    if (dlen + nlen + 2 > XENSTORE_PAYLOAD_MAX)
        return -E2BIG;
    // One buffer: the path, its NUL, then the value.
    char* buf = static_cast<char*>(malloc(XENSTORE_PAYLOAD_MAX + 1));
    if (!buf)
        return -ENOMEM;
    size_t plen = 0;
    if (dlen) {
        memcpy(buf, dir, dlen);
        plen = dlen;
        if (nlen)
            buf[plen++] = '/';
    }
    memcpy(buf + plen, node ? node : "", nlen);
    plen += nlen;
    buf[plen++] = '\0';
    va_list ap;
    va_start(ap, fmt);
    size_t room = XENSTORE_PAYLOAD_MAX + 1 - plen;
    int vlen = kvsnprintf(buf + plen, room, fmt, ap);
    va_end(ap);
    int rc;
    if (vlen < 0 || size_t(vlen) >= room) {
        rc = -E2BIG;
    } else {
        Part parts[] = { { buf, plen }, { buf + plen, size_t(vlen) } };
        rc = request_ok(XS_WRITE, tx, parts, 2);
    }
    free(buf);
    return rc;
}

int xenbus_mkdir(xenbus_transaction_t tx, const char* path)
{
    return path_command(XS_MKDIR, tx, path);
}

int xenbus_rm(xenbus_transaction_t tx, const char* path) { return path_command(XS_RM, tx, path); }

int xenbus_directory(xenbus_transaction_t tx, const char* path, char* buf, size_t size)
{
    char* list;
    size_t len;
    int rc = directory_request(tx, path, buf || !size, &list, &len);
    if (rc < 0)
        return rc;
    if (len > size) {
        free(list);
        return -ERANGE;
    }
    int count = 0;
    for (size_t i = 0; i < len; ++i)
        count += list[i] == '\0';
    if (len)
        memcpy(buf, list, len);
    else if (size)
        buf[0] = '\0';
    free(list);
    return count;
}

int xenbus_directory_foreach(xenbus_transaction_t tx, const char* path, xenbus_dir_fn fn, void* arg)
{
    char* list;
    size_t len;
    int rc = directory_request(tx, path, fn != nullptr, &list, &len);
    if (rc < 0)
        return rc;
    int calls = 0;
    for (size_t i = 0; i < len; i += strlen(list + i) + 1) {
        ++calls;
        if (fn(list + i, arg))
            break;
    }
    free(list);
    return calls;
}

int xenbus_get_perms(xenbus_transaction_t tx, const char* path, char* buf, size_t size)
{
    Reply r;
    int rc = path_request(XS_GET_PERMS, tx, path, buf, size, &r);
    if (rc < 0)
        return rc;
    // "n0\0r1\0" -> "n0 r1"
    size_t len = r.len;
    if (len && r.data[len - 1] == '\0')
        --len;
    for (size_t i = 0; i < len; ++i)
        if (r.data[i] == '\0')
            r.data[i] = ' ';
    rc = copy_out(r.data, len, buf, size);
    free(r.data);
    return rc;
}

int xenbus_set_perms(xenbus_transaction_t tx, const char* path, const char* perms)
{
    if (!enabled())
        return no_store();
    if (!path || !perms)
        return -EINVAL;
    // "n1 r0" or "n1,r0" -> "n1\0r0\0"
    size_t plen = strlen(perms);
    if (plen + 1 > XENSTORE_PAYLOAD_MAX)
        return -E2BIG;
    char* wire = static_cast<char*>(malloc(plen + 2));
    if (!wire)
        return -ENOMEM;
    size_t n = 0;
    for (const char* s = perms; *s;) {
        while (*s == ' ' || *s == ',')
            ++s;
        if (!*s)
            break;
        while (*s && *s != ' ' && *s != ',')
            wire[n++] = *s++;
        wire[n++] = '\0';
    }
    int rc = -EINVAL; // no entries at all
    if (n) {
        Part parts[] = { str_part(path), { wire, n } };
        rc = request_ok(XS_SET_PERMS, tx, parts, 2);
    }
    free(wire);
    return rc;
}

int xenbus_transaction_start(xenbus_transaction_t* tx)
{
    if (!enabled())
        return no_store();
    if (!tx)
        return -EINVAL;
    Part p { "", 1 };
    Reply r;
    int rc = request(XS_TRANSACTION_START, XBT_NIL, &p, 1, &r);
    if (rc < 0)
        return rc;
    char* end;
    unsigned long id = strtoul(r.data, &end, 10);
    bool ok = end != r.data && *end == '\0' && id != 0 && id <= 0xfffffffful;
    free(r.data);
    if (!ok) {
        printk("xenbus: TRANSACTION_START gave no usable id\n");
        return -EIO;
    }
    *tx = xenbus_transaction_t(id);
    return 0;
}

int xenbus_transaction_end(xenbus_transaction_t tx, int abort)
{
    if (!enabled())
        return no_store();
    if (tx == XBT_NIL)
        return -EINVAL;
    Part p { abort ? "F" : "T", 2 };
    return request_ok(XS_TRANSACTION_END, tx, &p, 1);
}

} // extern "C"
