/* server_socket: what the sample servers (httpd, echo, save_counter_net) share: their port
 * from the command line, a socket bound to it on every address, and sending. */
#ifndef DOMUS_SERVER_SOCKET_H
#define DOMUS_SERVER_SOCKET_H

#include <stddef.h>

/* The first all-digit argument, else `fallback` (key=value words are the kernel's and the
 * stack's, such as ip=dhcp). */
int server_port(int argc, char** argv, int fallback);

/* A socket of `type` (SOCK_STREAM, SOCK_DGRAM) bound to INADDR_ANY:port with
 * SO_REUSEADDR; -1 with errno set on failure. */
int server_socket(int type, int port);

/* All of `len` bytes on stream socket `s` (retrying short sends); -1 on failure. */
int send_all(int s, const void* data, size_t len);

/* `count` bytes of the known test body: byte i is 'a' + i % 26, whatever the chunking
 * (clients check it). -1 on failure. */
int send_pattern(int s, unsigned long long count);

#endif
