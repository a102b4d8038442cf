/* Raw TCP exchanges, canned responders and child processes, for specs
 * that need a peer below HTTP (probe.c). */
#ifndef LT_LUA_LPROBE_H
#define LT_LUA_LPROBE_H

#include "compat.h"

void ltl_open_probe(lua_State *L);

#endif
