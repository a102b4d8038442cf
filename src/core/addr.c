/* Addresses: literals and looked-up names (see addr.h). */
#include <stdio.h>
#include "addr.h"

int lt_addr_parse(const char *host, int port, struct sockaddr_storage *out) {
  int r = uv_ip4_addr(host, port, (struct sockaddr_in *)out);
  if (r)
    r = uv_ip6_addr(host, port, (struct sockaddr_in6 *)out);
  return r;
}

int lt_addr_lookup(uv_loop_t *loop, uv_getaddrinfo_t *req, uv_getaddrinfo_cb cb, const char *host,
                   int port) {
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints = {0};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  return uv_getaddrinfo(loop, req, cb, host, service, &hints);
}

struct addrinfo *lt_addr_tcp(struct addrinfo *ai) {
  while (ai && ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
    ai = ai->ai_next;
  return ai;
}
