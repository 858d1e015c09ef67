// The C API of <domus/channel.h>: argument checks, then the channel's ring (consfront_io.cpp).
#include "consfront.hpp"

#include <errno.h>

using namespace domus::guest;

extern "C" {

int channel_open(const char* name) { return consfront::open(name); }

long channel_read(int handle, void* buf, size_t len)
{
    consfront::Channel* ch = consfront::channel(handle);
    if (!ch || (!buf && len))
        return -EINVAL;
    return len ? consfront::read(ch, buf, len) : 0;
}

long channel_write(int handle, const void* buf, size_t len)
{
    consfront::Channel* ch = consfront::channel(handle);
    if (!ch || (!buf && len) || len > size_t(__LONG_MAX__))
        return -EINVAL;
    return len ? consfront::write(ch, buf, len) : 0;
}

} // extern "C"
