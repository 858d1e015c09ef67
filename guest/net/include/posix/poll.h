/* poll() for Domus guests: sockets only (struct pollfd and POLL* are lwIP's). */
#ifndef DOMUS_POLL_H
#define DOMUS_POLL_H

#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

int poll(struct pollfd* fds, nfds_t nfds, int timeout);

#ifdef __cplusplus
}
#endif

#endif
