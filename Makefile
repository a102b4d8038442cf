# luatest: `make` builds everything, `make example` runs the examples (the
# main job), `make test` runs the C unit tests and the Lua suite, plainly and
# under AddressSanitizer + UndefinedBehaviorSanitizer, `make install` installs
# (PREFIX, DESTDIR), `make uninstall` removes exactly what it installed.
#
# Every run is two make invocations. The first checks that the files the
# build needs exist and installs (or reinstalls) the Debian packages that
# should have brought them; only then does the second plan the build, so its
# pattern rules, wildcards and pkg-config calls see those files.

LT_VERSION  := $(shell sed -n 's/^\#define LT_VERSION "\(.*\)"/\1/p' include/luatest.h)
LT_SOMAJOR  := 0
# LUA picks the runtime to build against: lua5.4 (the default, built in
# the tree's root), lua5.3, luajit or lua5.1 (each built in build-$(LUA)/). The
# embedded modules are compiled by that runtime's interpreter.
LUA         ?= lua5.4
LUA_VERSION := 5.4
LUA_BIN     := $(LUA)
RUNTIMES    := lua5.4 lua5.3 luajit lua5.1
ifeq ($(filter $(LUA),$(RUNTIMES)),)
$(error LUA=$(LUA): not a runtime luatest builds for (one of: $(RUNTIMES)))
endif
LUA_PKG     := $(LUA)
MULTIARCH   := $(shell $(or $(CC),cc) -print-multiarch 2>/dev/null || echo $$(uname -m)-linux-gnu)

# Each entry is package:file; a package is (re)installed when its file is
# missing, whatever dpkg says of its status.
LIBDIR_MA  := /usr/lib/$(MULTIARCH)
BUILD_DEPS := \
  liblua5.4-dev:/usr/include/lua5.4/lua.h \
  liblua5.4-dev:$(LIBDIR_MA)/liblua5.4.so \
  lua5.4:/usr/bin/lua5.4 \
  libuv1-dev:/usr/include/uv.h \
  libuv1-dev:$(LIBDIR_MA)/libuv.so \
  node-llhttp:/usr/share/llhttp/api.c \
  node-llhttp:/usr/share/llhttp/http.c \
  node-llhttp:/usr/share/llhttp/llhttp.c \
  node-llhttp:/usr/share/include/llhttp/llhttp.h \
  libwebsockets-dev:/usr/include/libwebsockets.h \
  libwebsockets-dev:$(LIBDIR_MA)/libwebsockets.so \
  libwebsockets-evlib-uv:$(LIBDIR_MA)/libwebsockets-evlib_uv.so \
  libssl-dev:/usr/include/openssl/evp.h \
  libssl-dev:$(LIBDIR_MA)/libcrypto.so \
  libssl-dev:$(LIBDIR_MA)/libssl.so \
  libjansson-dev:/usr/include/jansson.h \
  libjansson-dev:$(LIBDIR_MA)/libjansson.so \
  zlib1g-dev:/usr/include/zlib.h \
  zlib1g-dev:$(LIBDIR_MA)/libz.so \
  pkg-config:/usr/bin/pkg-config
# The other runtimes: each one's headers, library and interpreter.
RUNTIME_DEPS_lua5.3 := liblua5.3-dev:/usr/include/lua5.3/lua.h \
  liblua5.3-dev:$(LIBDIR_MA)/liblua5.3.so lua5.3:/usr/bin/lua5.3
RUNTIME_DEPS_luajit := libluajit-5.1-dev:/usr/include/luajit-2.1/lua.h \
  libluajit-5.1-dev:$(LIBDIR_MA)/libluajit-5.1.so luajit:/usr/bin/luajit
RUNTIME_DEPS_lua5.1 := liblua5.1-0-dev:/usr/include/lua5.1/lua.h \
  liblua5.1-0-dev:$(LIBDIR_MA)/liblua5.1.so lua5.1:/usr/bin/lua5.1
BUILD_DEPS += $(RUNTIME_DEPS_$(LUA))
TEST_DEPS := $(RUNTIME_DEPS_lua5.3) $(RUNTIME_DEPS_luajit) $(RUNTIME_DEPS_lua5.1) \
  neovim:/usr/bin/nvim love:/usr/bin/love xvfb:/usr/bin/xvfb-run xauth:/usr/bin/xauth \
  lua-luv:$(LIBDIR_MA)/lua/5.4/luv.so \
  curl:/usr/bin/curl openssl:/usr/bin/openssl \
  python3-aiohttp:/usr/lib/python3/dist-packages/aiohttp/__init__.py \
  python3-websockets:/usr/lib/python3/dist-packages/websockets/__init__.py \
  lua-busted:/usr/bin/busted \
  lua-busted:/usr/share/lua/5.4/busted/runner.lua \
  nginx-light:/usr/sbin/nginx \
  chromium:/usr/bin/chromium \
  luarocks:/usr/bin/luarocks \
  groff-base:/usr/bin/groff \
  clang:/usr/bin/clang \
  lua5.1:/usr/bin/lua5.1 \
  luajit:/usr/bin/luajit \
  libclang-rt-14-dev:/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a
BENCH_DEPS := wrk:/usr/bin/wrk python3-pytest-aiohttp:/usr/lib/python3/dist-packages/pytest_aiohttp/plugin.py \
              python3-pytest:/usr/lib/python3/dist-packages/pytest/__init__.py

# DEPS_INSTALL=no only checks (for builds that must not call apt-get, such as
# a rock's): a missing file is then an error naming it and its package.
DEPS_INSTALL ?= yes

PUBLIC_GOALS := all example test unit-test spec-test runtime-suite asan-test fuzz fuzz-smoke bench install uninstall \
                install-rock rock deps test-deps clean format check-format
GOALS        := $(or $(MAKECMDGOALS),all)
NEEDS_NONE   := clean format check-format uninstall
NEEDS_TEST   := test unit-test spec-test runtimes runtime-test runtime-suite asan-test fuzz fuzz-smoke test-deps

ifndef LT_PLANNED
# ---- stage one: packages --------------------------------------------------------
DEPS_FOR := $(if $(filter-out $(NEEDS_NONE),$(GOALS)),$(BUILD_DEPS)) \
            $(if $(filter $(NEEDS_TEST),$(GOALS)),$(TEST_DEPS)) \
            $(if $(filter bench,$(GOALS)),$(BENCH_DEPS))

.PHONY: $(GOALS) lt-stage-two
$(GOALS): lt-stage-two ; @:
lt-stage-two:
	@missing=""; files=""; for dep in $(DEPS_FOR); do \
	  pkg=$${dep%%:*}; file=$${dep#*:}; \
	  [ -e "$$file" ] && continue; \
	  files="$$files $$file"; \
	  case " $$missing " in *" $$pkg "*) ;; *) missing="$$missing $$pkg" ;; esac; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$(DEPS_INSTALL)" != yes ]; then \
	    echo "luatest: missing$$files; install the Debian packages:$$missing" >&2; exit 1; \
	  fi; \
	  echo "installing Debian packages (files missing):$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --reinstall $$missing >/dev/null || exit 1; \
	  for dep in $(DEPS_FOR); do \
	    [ -e "$${dep#*:}" ] || { echo "luatest: $${dep%%:*} is installed but $${dep#*:} is still missing" >&2; exit 1; }; \
	  done; \
	fi
	@$(MAKE) --no-print-directory LT_PLANNED=1 $(GOALS)

else
# ---- stage two: the build -------------------------------------------------------
# (Programs the recipes run, such as specs that run make, start from stage one.)
unexport LT_PLANNED
CC       ?= cc
CFLAGS   ?= -O2 -g
LLHTTP_DIR    ?= /usr/share/llhttp
LLHTTP_INCDIR ?= /usr/share/include/llhttp
LUA_CFLAGS ?= $(shell pkg-config --cflags $(LUA_PKG))
LUA_LIBS   ?= $(shell pkg-config --libs $(LUA_PKG))
UV_CFLAGS  := $(shell pkg-config --cflags libuv libwebsockets libssl libcrypto jansson zlib)
UV_LIBS    := $(shell pkg-config --libs libwebsockets libuv libssl libcrypto jansson zlib)
SYS_LIBS   := -lm -ldl
WARN       := -Wall -Wextra -Werror
BASE_CFLAGS := -std=c11 -fPIC -fvisibility=hidden

# The core is compiled without Lua's headers on the include path, so it
# cannot come to depend on Lua; the bindings see the core's headers.
CORE_CPPFLAGS := -Iinclude -Isrc/core -I$(LLHTTP_INCDIR) -D_GNU_SOURCE $(UV_CFLAGS)
LUA_CPPFLAGS  := $(CORE_CPPFLAGS) -Isrc/lua $(LUA_CFLAGS) -DLT_SRCDIR='"$(CURDIR)"' \
                 -DLT_MULTIARCH='"$(MULTIARCH)"'
# Executables and libluatest.so export the public names only.
EXPORTS  := src/luatest.map
EXPORT_FLAGS := -Wl,--version-script=$(EXPORTS)

CORE_SRC := $(sort $(wildcard src/core/*.c))
BIND_SRC := $(sort $(wildcard src/lua/*.c))
LUA_SRC  := $(shell find lua -name '*.lua' | sort)
LLHTTP_SRC := api http llhttp
HEADERS  := $(wildcard src/core/*.h src/lua/*.h) include/luatest.h

ifeq ($(LUA),lua5.4)
B := build
BIN := luatest
LIBD := lib
else
B := build-$(LUA)
BIN := $(B)/luatest
LIBD := $(B)/lib
endif
A := build-asan
objs = $(patsubst src/%.c,$(1)/%.o,$(CORE_SRC) $(BIND_SRC)) \
       $(addprefix $(1)/llhttp/,$(addsuffix .o,$(LLHTTP_SRC))) $(1)/embedded.o
CORE_OBJS = $(patsubst src/%.c,$(1)/%.o,$(CORE_SRC)) $(addprefix $(1)/llhttp/,$(addsuffix .o,$(LLHTTP_SRC)))
OBJS      := $(call objs,$(B))
ASAN_OBJS := $(call objs,$(A))
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# In the tree: lib/ holds the libraries, and lib/luatest/core.so is
# libluatest.so.0 itself (a link), so a C handler module that links
# libluatest.so shares the one copy a stock interpreter loaded.
SONAME   := libluatest.so.$(LT_SOMAJOR)
LIB_SO   := $(LIBD)/$(SONAME)
LIB_A    := $(LIBD)/libluatest.a
CORE_SO  := $(LIBD)/luatest/core.so
MODULES  := $(B)/modules/hello_c.so $(B)/modules/crashing.so $(B)/modules/streaming.so
CTESTS   := $(patsubst spec/c/%.c,%,$(wildcard spec/c/test_*.c))

.PHONY: all deps test-deps example test unit-test spec-test runtimes runtime-test runtime-suite asan-test bench clean \
        format check-format install uninstall rock install-rock fuzz fuzz-smoke

all: $(BIN) $(LIB_SO) $(LIBD)/libluatest.so $(LIB_A) $(CORE_SO) $(MODULES) $(B)/frame_host

deps test-deps: ; @:

# ---- build ----------------------------------------------------------------------
$(B)/embedded.c: tools/embed.lua $(LUA_SRC)
	@mkdir -p $(@D)
	$(LUA_BIN) tools/embed.lua $@ $(LUA_SRC)

$(B)/core/%.o: src/core/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CORE_CPPFLAGS) $(BASE_CFLAGS) $(CFLAGS) $(WARN) -c $< -o $@

$(B)/%.o: src/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(LUA_CPPFLAGS) $(BASE_CFLAGS) $(CFLAGS) $(WARN) -c $< -o $@

$(B)/embedded.o: $(B)/embedded.c
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c $< -o $@

$(B)/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(@D)
	$(CC) -I$(LLHTTP_INCDIR) $(BASE_CFLAGS) $(CFLAGS) -w -c $< -o $@

# The binary links the library in, so it runs when copied anywhere; it
# exports the lt_* names for the C handler modules it loads.
$(BIN): $(OBJS) $(B)/main.o $(EXPORTS)
	$(CC) $(CFLAGS) -o $@ $(OBJS) $(B)/main.o $(LUA_LIBS) $(UV_LIBS) $(SYS_LIBS) -rdynamic $(EXPORT_FLAGS)

$(LIB_SO): $(OBJS) $(EXPORTS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -shared -Wl,-soname,$(SONAME) $(EXPORT_FLAGS) -o $@ $(OBJS) \
	  $(LUA_LIBS) $(UV_LIBS) $(SYS_LIBS)

$(LIBD)/libluatest.so: $(LIB_SO)
	ln -sf $(SONAME) $@

$(CORE_SO): $(LIB_SO)
	@mkdir -p $(@D)
	ln -sf ../$(SONAME) $@

$(LIB_A): $(OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# C handler modules link libluatest.so, as `pkg-config --libs luatest` says:
# the examples' and the specs' own.
LINK_MODULE = $(CC) -Iinclude $(LUA_CFLAGS) -std=c11 -fPIC $(CFLAGS) $(WARN) -shared -o $@ $< \
	  -L$(LIBD) -lluatest -Wl,-rpath,'$$ORIGIN/$(if $(filter lua5.4,$(LUA)),../../lib,../lib)'
$(B)/modules/%.so: examples/c_handler/%.c include/luatest.h $(LIBD)/libluatest.so
	@mkdir -p $(@D)
	$(LINK_MODULE)

$(B)/modules/%.so: spec/c/modules/%.c include/luatest.h $(LIBD)/libluatest.so
	@mkdir -p $(@D)
	$(LINK_MODULE)

# ---- sanitizer build ------------------------------------------------------------
ASAN_CFLAGS := -O1 -g $(BASE_CFLAGS) $(ASAN_FLAGS)

$(A)/embedded.c: $(B)/embedded.c
	@mkdir -p $(@D)
	cp $< $@

$(A)/core/%.o: src/core/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CORE_CPPFLAGS) $(ASAN_CFLAGS) $(WARN) -c $< -o $@

$(A)/%.o: src/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(LUA_CPPFLAGS) $(ASAN_CFLAGS) $(WARN) -c $< -o $@

$(A)/embedded.o: $(A)/embedded.c
	$(CC) -O1 -g $(BASE_CFLAGS) -c $< -o $@

$(A)/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(@D)
	$(CC) -I$(LLHTTP_INCDIR) $(ASAN_CFLAGS) -w -c $< -o $@

$(A)/luatest: $(ASAN_OBJS) $(A)/main.o $(EXPORTS)
	$(CC) $(ASAN_FLAGS) -o $@ $(ASAN_OBJS) $(A)/main.o $(LUA_LIBS) $(UV_LIBS) $(SYS_LIBS) \
	  -rdynamic $(EXPORT_FLAGS)

# ---- C unit tests and the C-only example (the core alone, no Lua) ---------------
$(B)/spec_%: spec/c/%.c $(call CORE_OBJS,$(B)) spec/c/check.h
	$(CC) $(CORE_CPPFLAGS) $(BASE_CFLAGS) $(CFLAGS) $(WARN) -o $@ $< $(call CORE_OBJS,$(B)) $(UV_LIBS) $(SYS_LIBS)

$(A)/spec_%: spec/c/%.c $(call CORE_OBJS,$(A)) spec/c/check.h
	$(CC) $(CORE_CPPFLAGS) $(ASAN_CFLAGS) $(WARN) -o $@ $< $(call CORE_OBJS,$(A)) $(UV_LIBS) $(SYS_LIBS)

$(B)/c_only: examples/c_only/main.c $(call CORE_OBJS,$(B))
	$(CC) $(CORE_CPPFLAGS) $(BASE_CFLAGS) $(CFLAGS) $(WARN) -o $@ $^ $(UV_LIBS) $(SYS_LIBS)

$(A)/c_only: examples/c_only/main.c $(call CORE_OBJS,$(A))
	$(CC) $(CORE_CPPFLAGS) $(ASAN_CFLAGS) $(WARN) -o $@ $^ $(UV_LIBS) $(SYS_LIBS)

# ---- running --------------------------------------------------------------------
example: all $(B)/c_only
	./luatest examples/
	$(B)/c_only

unit-test: $(addprefix $(B)/spec_,$(CTESTS))
	@for t in $^; do echo "== $$t"; $$t || exit 1; done

spec-test: all
	./luatest spec/

export ASAN_OPTIONS := detect_leaks=1:abort_on_error=0:halt_on_error=1:exitcode=99
export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS := suppressions=$(CURDIR)/tools/lsan.supp:print_suppressions=0

asan-test: all $(A)/luatest $(addprefix $(A)/spec_,$(CTESTS)) $(A)/c_only
	@for t in $(addprefix $(A)/spec_,$(CTESTS)) $(A)/c_only; do echo "== $$t (asan)"; $$t || exit 1; done
	LUATEST_BIN=$(CURDIR)/$(A)/luatest $(A)/luatest spec/ examples/

# The suite under ASan comes last: its closing line ends the run.
test: all runtimes example unit-test fuzz-smoke spec-test runtime-test asan-test

# The other runtimes' builds (the host specs load the LuaJIT one into
# Neovim and LÖVE), and the suite under each, from its own build: the specs
# load that build's C modules and run its interpreter.
OTHER_RUNTIMES := lua5.3 luajit
runtimes:
	@for r in $(OTHER_RUNTIMES); do $(MAKE) --no-print-directory -s LUA=$$r all || exit 1; done

runtime-test: runtimes
	@for r in $(OTHER_RUNTIMES); do \
	  echo "== the suite under $$r"; \
	  LUATEST_BIN=$(CURDIR)/build-$$r/luatest LUATEST_MODULES=$(CURDIR)/build-$$r/modules \
	    LUATEST_LUA=$$r build-$$r/luatest spec/ examples/ || exit 1; \
	done

# The suite under the one runtime LUA names, as runtime-test runs it (for a
# runtime make test does not run yet: make LUA=lua5.1 runtime-suite).
runtime-suite: all
	LUATEST_BIN=$(CURDIR)/$(BIN) LUATEST_MODULES=$(CURDIR)/$(B)/modules \
	  LUATEST_LUA=$(LUA_BIN) $(CURDIR)/$(BIN) spec/ examples/

bench: all $(B)/bench-host
	bench/run

# An embedding host with its own frame loop (spec/hosts/engines_spec.lua).
$(B)/frame_host: examples/frame_host/main.c $(LIB_A) $(EXPORTS)
	$(CC) $(LUA_CPPFLAGS) $(BASE_CFLAGS) $(CFLAGS) $(WARN) -o $@ $< $(LIB_A) \
	  $(LUA_LIBS) $(UV_LIBS) $(SYS_LIBS) -rdynamic $(EXPORT_FLAGS)

$(B)/bench-host: bench/host.c $(LIB_A) $(EXPORTS)
	$(CC) $(LUA_CPPFLAGS) $(BASE_CFLAGS) $(CFLAGS) $(WARN) -o $@ $< $(LIB_A) \
	  $(LUA_LIBS) $(UV_LIBS) $(SYS_LIBS) -rdynamic $(EXPORT_FLAGS)

# ---- fuzzing (libFuzzer, clang, ASan + UBSan) ----------------------------------
# spec/fuzz/NAME.c is a target; those with a streaming parser are built a
# second time as NAME_split, which checks that the verdict does not depend on
# how the input is cut. `make fuzz` runs each FUZZ_SECONDS; `make test` a few
# seconds each from the committed corpus (new finds go to a temporary folder).
F := build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 3
FUZZ_BASE   := request wsframe wsdecoder url multipart inflate
FUZZ_SPLIT  := request wsframe wsdecoder inflate
FUZZ_BINS   := $(addprefix $(F)/,$(FUZZ_BASE) $(addsuffix _split,$(FUZZ_SPLIT)))
FUZZ_OBJS   := $(addprefix $(F)/core/,http.o url.o multipart.o wsframe.o error.o coding.o) \
               $(addprefix $(F)/llhttp/,$(addsuffix .o,$(LLHTTP_SRC)))
FUZZ_CFLAGS := -g -O1 -std=c11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_OBJ_CFLAGS := $(subst fuzzer$(comma),fuzzer-no-link$(comma),$(FUZZ_CFLAGS))
comma := ,

.SECONDARY: $(FUZZ_OBJS)
$(F)/core/%.o: src/core/%.c $(HEADERS)
	@mkdir -p $(@D)
	clang $(CORE_CPPFLAGS) $(FUZZ_OBJ_CFLAGS) $(WARN) -c $< -o $@

$(F)/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(@D)
	clang -I$(LLHTTP_INCDIR) $(FUZZ_OBJ_CFLAGS) -w -c $< -o $@

$(F)/%: spec/fuzz/%.c spec/fuzz/split.h $(FUZZ_OBJS)
	@mkdir -p $(@D)
	clang $(CORE_CPPFLAGS) -Ispec/fuzz $(FUZZ_CFLAGS) $(WARN) -o $@ $< $(FUZZ_OBJS) $(UV_LIBS)

$(F)/%_split: spec/fuzz/%.c spec/fuzz/split.h $(FUZZ_OBJS)
	@mkdir -p $(@D)
	clang $(CORE_CPPFLAGS) -Ispec/fuzz $(FUZZ_CFLAGS) $(WARN) -DSPLIT -o $@ $< $(FUZZ_OBJS) $(UV_LIBS)

# Runs each target for $(1) seconds: new inputs to a temporary folder, the
# committed corpus read as seeds.
define run_fuzzers
	@for bin in $(FUZZ_BINS); do \
	  name=$${bin##*/}; seeds=spec/fuzz/corpus/$${name%_split}; tmp=$$(mktemp -d); \
	  echo "== $$name ($(1) s)"; \
	  $$bin -max_total_time=$(1) -print_final_stats=1 -artifact_prefix=$(F)/ $$tmp $$seeds 2>$$tmp.log; rc=$$?; \
	  grep -E "^stat::number_of_executed_units|^stat::peak_rss" $$tmp.log | tr '\n' ' '; echo; \
	  if [ $$rc -ne 0 ]; then tail -40 $$tmp.log; rm -rf $$tmp $$tmp.log; exit 1; fi; \
	  rm -rf $$tmp $$tmp.log; \
	done
endef

fuzz: $(FUZZ_BINS)
	$(call run_fuzzers,$(FUZZ_SECONDS))

fuzz-smoke: $(FUZZ_BINS)
	$(call run_fuzzers,$(FUZZ_SMOKE_SECONDS))

C_FILES = $(wildcard src/*.c src/*/*.c src/*/*.h include/*.h spec/c/*.c spec/c/*.h spec/c/*/*.c \
            spec/fuzz/*.c spec/fuzz/*.h spec/data/*.c \
            examples/*/*.c bench/*.c)
format:
	clang-format -i $(C_FILES)

check-format:
	clang-format --dry-run -Werror $(C_FILES)

clean:
	rm -rf build $(A) $(F) lib luatest $(addprefix build-,$(filter-out lua5.4,$(RUNTIMES)))

# ---- installing -----------------------------------------------------------------
PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
MANDIR       ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# Where a stock interpreter looks: /usr/local/{lib,share}/lua/5.4 for the
# default prefix; Debian's own module directories for /usr.
ifeq ($(PREFIX),/usr)
LUA_CMODDIR ?= $(shell pkg-config --variable=INSTALL_CMOD lua$(LUA_VERSION))
LUA_LMODDIR ?= $(shell pkg-config --variable=INSTALL_LMOD lua$(LUA_VERSION))
else
LUA_CMODDIR ?= $(PREFIX)/lib/lua/$(LUA_VERSION)
LUA_LMODDIR ?= $(PREFIX)/share/lua/$(LUA_VERSION)
endif

REALNAME   := libluatest.so.$(LT_VERSION)
# luatest.pc is relocatable, as Meson's pkgconfig.relocatable makes them: its
# prefix is found from its own directory, so a DESTDIR tree or a copied one
# gives its own paths; directories below the prefix are ${prefix}/....
PC_PREFIX    = $${pcfiledir}/$(shell realpath -m --relative-to=$(PKGCONFIGDIR) $(PREFIX))
under_prefix = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))
LUA_FILES  := $(LUA_SRC:lua/%=%)
D          := $(DESTDIR)
INSTALLED  := $(BINDIR)/luatest $(LIBDIR)/$(REALNAME) $(LIBDIR)/$(SONAME) $(LIBDIR)/libluatest.so \
              $(LIBDIR)/libluatest.a $(INCLUDEDIR)/luatest.h $(PKGCONFIGDIR)/luatest.pc \
              $(MANDIR)/man1/luatest.1 $(LUA_CMODDIR)/luatest/core.so \
              $(addprefix $(LUA_LMODDIR)/,$(LUA_FILES))
# Directories of luatest's own, removed by uninstall once empty (deepest first).
OWN_DIRS   := $(LUA_LMODDIR)/luatest/report $(LUA_LMODDIR)/luatest/runner $(LUA_LMODDIR)/luatest $(LUA_CMODDIR)/luatest
# core.so is a link to the library, relative so that a DESTDIR tree works.
CORE_LINK   = $(shell realpath -m --relative-to=$(LUA_CMODDIR)/luatest $(LIBDIR))/$(SONAME)

install: all
	install -d $(D)$(BINDIR) $(D)$(LIBDIR) $(D)$(INCLUDEDIR) $(D)$(PKGCONFIGDIR) \
	  $(D)$(MANDIR)/man1 $(D)$(LUA_CMODDIR)/luatest
	install -m 755 luatest $(D)$(BINDIR)/luatest
	install -m 755 $(LIB_SO) $(D)$(LIBDIR)/$(REALNAME)
	ln -sf $(REALNAME) $(D)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(D)$(LIBDIR)/libluatest.so
	install -m 644 $(LIB_A) $(D)$(LIBDIR)/libluatest.a
	install -m 644 include/luatest.h $(D)$(INCLUDEDIR)/luatest.h
	sed -e 's|@PREFIX@|$(PC_PREFIX)|; s|@LIBDIR@|$(call under_prefix,$(LIBDIR))|' \
	  -e 's|@INCLUDEDIR@|$(call under_prefix,$(INCLUDEDIR))|' \
	  -e 's|@LUA_CMODDIR@|$(call under_prefix,$(LUA_CMODDIR))|; s|@LUA_LMODDIR@|$(call under_prefix,$(LUA_LMODDIR))|' \
	  -e 's|@VERSION@|$(LT_VERSION)|; s|@LUA@|lua$(LUA_VERSION)|' \
	  luatest.pc.in > $(D)$(PKGCONFIGDIR)/luatest.pc
	install -m 644 doc/luatest.1 $(D)$(MANDIR)/man1/luatest.1
	ln -sf $(CORE_LINK) $(D)$(LUA_CMODDIR)/luatest/core.so
	for f in $(LUA_FILES); do install -D -m 644 lua/$$f $(D)$(LUA_LMODDIR)/$$f || exit 1; done
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig; fi

uninstall:
	rm -f $(addprefix $(D),$(INSTALLED))
	for d in $(addprefix $(D),$(OWN_DIRS)); do [ ! -d $$d ] || rmdir $$d; done
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig; fi

# A rock (luatest-http-*.rockspec): the binary, and the library as the
# module itself, into the directories LuaRocks names.
rock: luatest $(LIB_SO)

install-rock: rock
	install -d $(D)$(BINDIR) $(D)$(LUA_CMODDIR)/luatest
	install -m 755 luatest $(D)$(BINDIR)/luatest
	install -m 755 $(LIB_SO) $(D)$(LUA_CMODDIR)/luatest/core.so
	for f in $(LUA_FILES); do install -D -m 644 lua/$$f $(D)$(LUA_LMODDIR)/$$f || exit 1; done
endif
