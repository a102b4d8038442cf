/* Addresses for the client, the server and the proxy: an IPv4 or IPv6
 * literal, or a host name looked up with getaddrinfo (on libuv's pool). */
#ifndef LT_ADDR_H
#define LT_ADDR_H

#include <netdb.h>
#include <uv.h>

/* host (IPv4, else IPv6) and port into *out: 0, or a libuv error when host
 * is not an address (a name to look up, or nonsense). */
int lt_addr_parse(const char *host, int port, struct sockaddr_storage *out);

/* Starts looking host:port up for TCP (AF_UNSPEC): libuv's uv_getaddrinfo,
 * synchronous when cb is NULL (the answer is then in req->addrinfo). */
int lt_addr_lookup(uv_loop_t *loop, uv_getaddrinfo_t *req, uv_getaddrinfo_cb cb, const char *host,
                   int port);

/* The first IPv4 or IPv6 entry from ai on, or NULL. */
struct addrinfo *lt_addr_tcp(struct addrinfo *ai);

#endif
