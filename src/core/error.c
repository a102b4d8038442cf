/* Error codes: libuv's pass through, luatest's own have names here. */
#include <uv.h>
#include "luatest.h"

const char *lt_strerror(int err) {
  switch (err) {
  case 0:
    return "success";
  case LT_EPARSE:
    return "malformed HTTP message";
  case LT_ETOOLARGE:
    return "size limit exceeded";
  case LT_EHEADER:
    return "header name or value contains forbidden characters";
  case LT_ECLOSED:
    return "already closed";
  case LT_EBUSY:
    return "resources still open";
  case LT_ENOMEM:
    return "out of memory";
  case LT_ESTATE:
    return "not valid in the current state";
  case LT_EENCODING:
    return "body does not decode as its content coding";
  case LT_ETLS:
    return "TLS failure";
  default:
    return uv_strerror(err);
  }
}

const char *lt_errname(int err) {
  switch (err) {
  case 0:
    return "OK";
  case LT_EPARSE:
    return "EPARSE";
  case LT_ETOOLARGE:
    return "ETOOLARGE";
  case LT_EHEADER:
    return "EHEADER";
  case LT_ECLOSED:
    return "ECLOSED";
  case LT_EBUSY:
    return "EBUSY";
  case LT_ENOMEM:
    return "ENOMEM";
  case LT_ESTATE:
    return "ESTATE";
  case LT_EENCODING:
    return "EENCODING";
  case LT_ETLS:
    return "ETLS";
  default:
    return uv_err_name(err);
  }
}
