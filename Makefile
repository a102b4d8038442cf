# luatest: `make` builds everything, `make example` runs the examples (the
# main job), `make test` runs the C unit tests and the Lua suite, plainly and
# under AddressSanitizer + UndefinedBehaviorSanitizer.

# Debian packages the build and the tests need; missing ones are installed.
BUILD_DEPS := liblua5.4-dev lua5.4 libuv1-dev node-llhttp libwebsockets-dev \
              libwebsockets-evlib-uv lua-cjson pkg-config
TEST_DEPS  := curl python3-aiohttp python3-websockets lua-busted nginx-light chromium
BENCH_DEPS := wrk

CC       ?= cc
LLHTTP   := /usr/share/llhttp
PKGS     := lua5.4 libuv libwebsockets
CPPFLAGS := -Iinclude -Isrc -I/usr/share/include/llhttp -D_GNU_SOURCE -DLT_SRCDIR='"$(CURDIR)"'
WARN     := -Wall -Wextra -Werror
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -fPIC
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS_UV  = $(shell pkg-config --libs libwebsockets libuv 2>/dev/null || echo -lwebsockets -luv)
LIBS_LUA = $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4)
LIBS     = $(LIBS_LUA) $(LIBS_UV) -lm -ldl

CORE_SRC := loop http url request router server client probe process app multipart stream ws wsbridge wsframe error
BIND_SRC := lua_core lua_loop lua_request lua_router lua_server lua_client lua_probe lua_ws
LUA_SRC  := $(shell find lua -name '*.lua' | sort)

OBJ_NAMES := $(CORE_SRC) $(BIND_SRC) embedded llhttp_api llhttp_http llhttp_llhttp

B := build
A := build-asan
OBJS      := $(addprefix $(B)/,$(addsuffix .o,$(OBJ_NAMES)))
ASAN_OBJS := $(addprefix $(A)/,$(addsuffix .o,$(OBJ_NAMES)))
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

CTESTS := $(patsubst spec/c/%.c,%,$(wildcard spec/c/test_*.c))

.PHONY: all deps test-deps example test unit-test spec-test asan-test bench clean format check-format

all: deps luatest lib/luatest/core.so libluatest.a libluatest.so

# ---- Debian packages ---------------------------------------------------------
define install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null || exit 1; \
	fi
endef

deps:
	$(call install_missing,$(BUILD_DEPS))

test-deps: deps
	$(call install_missing,$(TEST_DEPS))

# ---- build ---------------------------------------------------------------------
$(B) $(A) lib/luatest:
	@mkdir -p $@

$(B)/embedded.c: tools/embed.lua $(LUA_SRC) | $(B) deps
	lua5.4 tools/embed.lua $@ $(LUA_SRC)

$(B)/%.o: src/%.c src/*.h include/luatest.h | $(B) deps
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(WARN) -c $< -o $@

$(B)/embedded.o: $(B)/embedded.c
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/llhttp_%.o: $(LLHTTP)/%.c | $(B) deps
	$(CC) -I/usr/share/include/llhttp $(CFLAGS) -w -c $< -o $@

luatest: $(OBJS) $(B)/main.o
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS) -rdynamic

# A Lua C module for a stock lua5.4: the interpreter provides Lua itself.
lib/luatest/core.so: $(OBJS) | lib/luatest
	$(CC) $(CFLAGS) -shared -o $@ $(OBJS) $(LIBS_UV)

libluatest.a: $(OBJS)
	rm -f $@ && ar rcs $@ $^

libluatest.so: $(OBJS)
	$(CC) $(CFLAGS) -shared -o $@ $^ $(LIBS)

# ---- sanitizer build -------------------------------------------------------------
$(A)/embedded.c: $(B)/embedded.c | $(A)
	cp $< $@

$(A)/%.o: src/%.c src/*.h include/luatest.h | $(A) deps
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) -O1 -g -std=c11 -fPIC $(ASAN_FLAGS) $(WARN) -c $< -o $@

$(A)/embedded.o: $(A)/embedded.c
	$(CC) -O1 -g -c $< -o $@

$(A)/llhttp_%.o: $(LLHTTP)/%.c | $(A) deps
	$(CC) -I/usr/share/include/llhttp -O1 -g $(ASAN_FLAGS) -w -c $< -o $@

$(A)/luatest: $(ASAN_OBJS) $(A)/main.o
	$(CC) $(ASAN_FLAGS) -o $@ $^ $(LIBS) -rdynamic

# ---- C unit tests ------------------------------------------------------------------
$(B)/spec_%: spec/c/%.c $(OBJS) spec/c/*.h
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(WARN) -o $@ $< $(OBJS) $(LIBS)

$(A)/spec_%: spec/c/%.c $(ASAN_OBJS) spec/c/*.h
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) -O1 -g -std=c11 $(ASAN_FLAGS) $(WARN) -o $@ $< $(ASAN_OBJS) $(LIBS)

# ---- running ---------------------------------------------------------------------------
example: all $(B)/c_only
	./luatest examples/
	$(B)/c_only

# The C-only example links the core without Lua.
$(B)/c_only: examples/c_only/main.c libluatest.a
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< libluatest.a $(LIBS_UV)

$(A)/c_only: examples/c_only/main.c $(ASAN_OBJS)
	$(CC) $(CPPFLAGS) -O1 -g -std=c11 $(ASAN_FLAGS) $(WARN) -o $@ $< $(ASAN_OBJS) $(LIBS)

unit-test: $(addprefix $(B)/spec_,$(CTESTS)) $(B)/c_only
	@for t in $^; do echo "== $$t"; $$t || exit 1; done

spec-test: all test-deps
	./luatest spec/ examples/

export ASAN_OPTIONS := detect_leaks=1:abort_on_error=0:halt_on_error=1:exitcode=99
export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS := suppressions=$(CURDIR)/tools/lsan.supp:print_suppressions=0

asan-test: $(A)/luatest $(addprefix $(A)/spec_,$(CTESTS)) $(A)/c_only test-deps
	@for t in $(addprefix $(A)/spec_,$(CTESTS)) $(A)/c_only; do echo "== $$t (asan)"; $$t || exit 1; done
	LUATEST_BIN=$(CURDIR)/$(A)/luatest $(A)/luatest spec/ examples/

test: all test-deps unit-test spec-test asan-test

bench: all build/bench-host
	$(call install_missing,$(BENCH_DEPS))
	bench/run

format:
	clang-format -i src/*.c src/*.h include/*.h spec/c/*.c spec/c/*.h examples/*/*.c bench/*.c

check-format:
	clang-format --dry-run -Werror src/*.c src/*.h include/*.h spec/c/*.c spec/c/*.h examples/*/*.c bench/*.c

clean:
	rm -rf $(B) $(A) lib luatest libluatest.a libluatest.so

# ---- C modules for the examples and specs (lt_* symbols come from the binary) ----
MODULES := build/modules/hello_c.so
all: $(MODULES)
build/modules/%.so: examples/c_handler/%.c include/luatest.h | $(B)
	@mkdir -p build/modules
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(WARN) -shared -o $@ $<

build/bench-host: bench/host.c libluatest.a
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(WARN) -o $@ $< libluatest.a $(LIBS) -rdynamic
