-- The rock is "luatest-http": "luatest" is taken on LuaRocks by other test
-- frameworks. The module (require "luatest.web") and the command (luatest)
-- keep their names.
rockspec_format = "3.0"
package = "luatest-http"
version = "0.1.0-1"
source = {
  url = "git+file://./luatest",
  tag = "v0.1.0",
}
description = {
  summary = "HTTP/WebSocket test servers and clients for Lua tests, on libuv, as aiohttp's test_utils",
  detailed = [[
A C core runs test servers and test clients on libuv (HTTP/1.1 parsed by
llhttp, WebSocket clients by libwebsockets) and exposes them to Lua, so tests
are Lua scripts with fixtures like aiohttp_client(app); handlers are Lua
functions or C callbacks. Comes with the luatest runner. Needs the llhttp C
sources (Debian: node-llhttp, found in LLHTTP_DIR, /usr/share/llhttp by
default), OpenSSL's libcrypto, jansson and zlib.
]],
  license = "MIT",
  labels = { "testing", "http", "websocket", "libuv" },
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
external_dependencies = {
  LIBUV = { header = "uv.h", library = "uv" },
  LIBWEBSOCKETS = { header = "libwebsockets.h", library = "websockets" },
  LIBCRYPTO = { header = "openssl/evp.h", library = "crypto" },
  JANSSON = { header = "jansson.h", library = "jansson" },
  ZLIB = { header = "zlib.h", library = "z" },
}
build = {
  type = "make",
  build_target = "rock",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LUA_CFLAGS = "-I$(LUA_INCDIR)",
    DEPS_INSTALL = "no",
  },
  install_target = "install-rock",
  install_variables = {
    BINDIR = "$(BINDIR)",
    LUA_CMODDIR = "$(LIBDIR)",
    LUA_LMODDIR = "$(LUADIR)",
    DEPS_INSTALL = "no",
  },
}
