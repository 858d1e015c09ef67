// <domus/net.h>: the C API over netfront.
#include "netfront.hpp"

#include <errno.h>
#include <string.h>

using namespace domus::guest;

extern "C" int net_open_offload(unsigned devid, unsigned offloads, struct net_info* info)
{
    if (offloads & ~(NET_OFFLOAD_CSUM | NET_OFFLOAD_GSO))
        return -EINVAL;
    int handle = netfront::open(devid, offloads);
    if (handle >= 0 && info) {
        netfront::Nic* n = netfront::nic(handle);
        memcpy(info->mac, n->mac, sizeof info->mac);
        strncpy(info->ip, n->ip, sizeof info->ip - 1);
        info->ip[sizeof info->ip - 1] = '\0';
        info->offloads = n->offloads;
    }
    return handle;
}

extern "C" int net_open(unsigned devid, struct net_info* info)
{
    return net_open_offload(devid, 0, info);
}

extern "C" long net_send(int nic, const void* frame, size_t len)
{
    netfront::Nic* n = netfront::nic(nic);
    if (!n || !frame)
        return -EINVAL;
    net_part part { frame, len };
    return netfront::send(n, &part, 1, nullptr);
}

extern "C" long net_send_parts(int nic, const struct net_part* parts, unsigned count)
{
    return net_send_packet(nic, parts, count, nullptr);
}

extern "C" long net_send_packet(
    int nic, const struct net_part* parts, unsigned count, const struct net_packet* packet)
{
    netfront::Nic* n = netfront::nic(nic);
    if (!n || (!parts && count))
        return -EINVAL;
    return netfront::send(n, parts, count, packet);
}

extern "C" long net_receive(int nic, void* buf, size_t len)
{
    netfront::Nic* n = netfront::nic(nic);
    if (!n || !buf)
        return -EINVAL;
    net_buffer buffer { buf, len };
    return netfront::take(n, &buffer, 1);
}

extern "C" long net_peek_packet(int nic, struct net_packet* packet)
{
    netfront::Nic* n = netfront::nic(nic);
    if (!n)
        return -EINVAL;
    return netfront::peek(n, packet);
}

extern "C" long net_take_packet(int nic, const struct net_buffer* buffers, unsigned count)
{
    netfront::Nic* n = netfront::nic(nic);
    if (!n || (!buffers && count))
        return -EINVAL;
    return netfront::take(n, buffers, count);
}

extern "C" int net_stats(int nic, struct net_stats* stats)
{
    netfront::Nic* n = netfront::nic(nic);
    if (!n || !stats)
        return -EINVAL;
    *stats = n->stats;
    return 0;
}
