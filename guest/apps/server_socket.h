/* server_socket: what the sample servers (httpd, echo) share: their port from the command
 * line, and a socket bound to it on every address. */
#ifndef DOMUS_SERVER_SOCKET_H
#define DOMUS_SERVER_SOCKET_H

/* The first all-digit argument, else `fallback` (key=value words are the kernel's and the
 * stack's, such as ip=dhcp). */
int server_port(int argc, char** argv, int fallback);

/* A socket of `type` (SOCK_STREAM, SOCK_DGRAM) bound to INADDR_ANY:port with
 * SO_REUSEADDR; -1 with errno set on failure. */
int server_socket(int type, int port);

#endif
