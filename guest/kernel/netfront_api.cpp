// <domus/net.h>: the C API over netfront.
#include "netfront.hpp"

#include <errno.h>
#include <string.h>

using namespace domus::guest;

extern "C" int net_open(unsigned devid, struct net_info* info)
{
    int handle = netfront::open(devid);
    if (handle >= 0 && info) {
        netfront::Nic* n = netfront::nic(handle);
        memcpy(info->mac, n->mac, sizeof info->mac);
        strncpy(info->ip, n->ip, sizeof info->ip - 1);
        info->ip[sizeof info->ip - 1] = '\0';
    }
    return handle;
}

extern "C" long net_send(int nic, const void* frame, size_t len)
{
    netfront::Nic* n = netfront::nic(nic);
    if (!n || !frame)
        return -EINVAL;
    net_part part { frame, len };
    return netfront::send(n, &part, 1);
}

extern "C" long net_send_parts(int nic, const struct net_part* parts, unsigned count)
{
    netfront::Nic* n = netfront::nic(nic);
    if (!n || (!parts && count))
        return -EINVAL;
    return netfront::send(n, parts, count);
}

extern "C" long net_receive(int nic, void* buf, size_t len)
{
    netfront::Nic* n = netfront::nic(nic);
    if (!n || !buf)
        return -EINVAL;
    return netfront::receive(n, buf, len);
}

extern "C" int net_stats(int nic, struct net_stats* stats)
{
    netfront::Nic* n = netfront::nic(nic);
    if (!n || !stats)
        return -EINVAL;
    *stats = n->stats;
    return 0;
}
