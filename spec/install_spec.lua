-- `make install` into a DESTDIR: the tree it lays out, the library's SONAME,
-- luatest.pc for a C program, a C handler module that loads in a stock
-- lua5.4, the installed binary and an embedding host, and `make uninstall`.
local luatest = require "luatest"
local core = require "luatest.core"

local src = core.srcdir
local prefix = "/usr/local"

-- The make of a spec must not take the variables of the make running the suite.
local function sh(script, timeout)
  local result = assert(core.exec({ "sh", "-c", "unset MAKEFLAGS MFLAGS MAKELEVEL LT_PLANNED; set -e; " .. script },
    { timeout = timeout or 120, cwd = src }))
  return result.status, result.stdout, result.stderr
end

local function ok(script, timeout)
  local status, out, err = sh(script, timeout)
  assert(status == 0, "exit " .. tostring(status) .. "\n" .. out .. err)
  return out, err
end

local function expected_files()
  local files = {
    "bin/luatest", "include/luatest.h", "lib/libluatest.a", "lib/libluatest.so",
    "lib/libluatest.so.0", "lib/libluatest.so.0.1.0", "lib/lua/5.4/luatest/core.so",
    "lib/pkgconfig/luatest.pc", "share/man/man1/luatest.1",
  }
  for line in ok("git ls-files 'lua/*.lua'"):gmatch("[^\n]+") do
    files[#files + 1] = "share/lua/5.4/" .. line:gsub("^lua/", "")
  end
  table.sort(files)
  return table.concat(files, "\n") .. "\n"
end

luatest.fixture("dest", function()
  local dir = ok("mktemp -d"):gsub("\n$", "")
  ok(string.format("make -s install DESTDIR=%q PREFIX=%s >/dev/null", dir, prefix), 300)
  return dir, function()
    ok(string.format("rm -rf %q", dir))
  end
end, { scope = "file" })

-- The flags of the installed luatest.pc; it is relocatable, so they name
-- the DESTDIR tree.
local function pkg_config(dest, args)
  return string.format("PKG_CONFIG_PATH=%q pkg-config %s", dest .. prefix .. "/lib/pkgconfig", args)
end

local function build_module(dest, dir)
  ok(string.format("cc -shared -fPIC -o %q/hello_c.so examples/c_handler/hello_c.c $(%s)", dir, pkg_config(dest,
    "--cflags --libs luatest")))
end

function test_install_lays_out_the_tree_under_destdir_and_prefix(dest)
  local listing = ok(string.format("cd %q && find . -type f -o -type l | sed 's|^\\./||' | sort", dest .. prefix))
  luatest.eq(listing, expected_files())
  local dynamic = ok(string.format("readelf -d %q/lib/libluatest.so.0", dest .. prefix))
  assert(dynamic:find("Library soname: [libluatest.so.0]", 1, true), dynamic)
  -- core.so is the library itself, so there is one copy of luatest's state.
  local same = ok(string.format("cd %q/lib && readlink -f lua/5.4/luatest/core.so libluatest.so libluatest.so.0",
    dest .. prefix))
  local a, b, c = same:match("([^\n]+)\n([^\n]+)\n([^\n]+)\n")
  assert(a == b and b == c and a:find("/libluatest.so.0.1.0$"), same)
  local exported = ok(string.format("nm -D --defined-only %q/lib/libluatest.so.0 | awk '{print $3}'", dest .. prefix))
  for name in exported:gmatch("[^\n]+") do
    assert(name:match("^lt_") or name:match("^luaopen_"), "exported: " .. name)
  end
  assert(exported:find("luaopen_luatest_core\n", 1, true) and exported:find("lt_ws_close\n", 1, true), exported)
end

function test_the_installed_pc_has_the_flags_of_the_installed_tree(dest)
  luatest.eq(ok(pkg_config(dest, "--modversion luatest")), "0.1.0\n")
  local flags = ok(pkg_config(dest, "--cflags --libs luatest"))
  local include, lua_include, libdir = flags:match("^%-I(%S+) %-I(%S+) %-L(%S+) %-lluatest %s*$")
  assert(include, flags)
  luatest.eq(ok("realpath " .. include .. " " .. libdir), dest .. prefix .. "/include\n" .. dest .. prefix .. "/lib\n")
  luatest.eq(lua_include, "/usr/include/lua5.4") -- lua.h, for C modules
  local cmod = ok(pkg_config(dest, "--variable=INSTALL_CMOD luatest"))
  luatest.eq(ok("realpath " .. cmod), dest .. prefix .. "/lib/lua/5.4\n")
end

function test_a_c_program_builds_with_the_installed_pc_and_serves_and_requests(dest)
  local dir = ok("mktemp -d"):gsub("\n$", "")
  local out = ok(string.format([[
    cc -o %q/c_only examples/c_only/main.c $(%s)
    LD_LIBRARY_PATH=%q %q/c_only]], dir, pkg_config(dest, "--cflags --libs luatest"), dest .. prefix .. "/lib", dir))
  ok(string.format("rm -rf %q", dir))
  assert(out:find("GET /hello/c?greeting=Hi -> 200 Hi, c\n", 1, true), out)
  assert(out:find("https GET localhost:PORT/hello/tls, trusting the server's certificate -> 200 Hello, tls\n", 1, true), out)
  assert(out:find("c_only: 9 passed, 0 failed\n", 1, true), out)
end

function test_the_installed_binary_runs_and_prints_the_installed_paths(dest)
  local bin = dest .. prefix .. "/bin/luatest"
  local version = ok(string.format("%q --version", bin))
  assert(version:match("^luatest 0%.1%.0\nLua 5%.4%.%d+\n"), version)
  local env = ok(string.format("unset LUA_PATH LUA_PATH_5_4 LUA_CPATH LUA_CPATH_5_4; %q --env", bin))
  luatest.eq(env, string.format("export LUA_PATH_5_4='%s/share/lua/5.4/?.lua;%s/share/lua/5.4/?/init.lua;;'\n"
    .. "export LUA_CPATH_5_4='%s/lib/lua/5.4/?.so;;'\n", dest .. prefix, dest .. prefix, dest .. prefix))
end

function test_the_man_page_renders_and_names_every_option(dest)
  local page = dest .. prefix .. "/share/man/man1/luatest.1"
  local status, out, err = sh(string.format("groff -man -Tutf8 -ww -P-cbou %q", page))
  assert(status == 0 and err == "", err)
  local help = ok(string.format("%q --help", dest .. prefix .. "/bin/luatest"))
  local n = 0
  for flag in help:gmatch("\n  (%-%-?[%w-]+)") do
    assert(out:find(flag, 1, true), "the man page does not name " .. flag)
    n = n + 1
  end
  assert(n >= 18, help)
end

-- A stock interpreter loads the module with no LD_LIBRARY_PATH: core.so is
-- libluatest.so.0, which the module's own dependency on it then reuses.
function test_a_c_handler_module_loads_in_a_stock_lua54_that_required_luatest_core(dest)
  local dir = ok("mktemp -d"):gsub("\n$", "")
  build_module(dest, dir)
  local out = ok(string.format([[
    unset LUA_PATH LUA_PATH_5_4 LUA_CPATH LUA_CPATH_5_4 LD_LIBRARY_PATH
    eval "$(%q --env)"
    LUA_CPATH_5_4="%s/?.so;$LUA_CPATH_5_4" lua5.4 spec/data/c_module.lua
    rm -rf %q]], dest .. prefix .. "/bin/luatest", dir, dir))
  luatest.eq(out, "Hello, ada | hello from C | C got over the wire\n")
end

function test_a_c_handler_module_loads_in_the_installed_luatest_binary(dest)
  local dir = ok("mktemp -d"):gsub("\n$", "")
  build_module(dest, dir)
  ok(string.format("mkdir %q/spec && cat > %q/spec/c_module_spec.lua", dir, dir) .. [[ <<'LUA'
package.cpath = "./?.so;" .. package.cpath
local hello_c = require "hello_c"
local web = require "luatest.web"
function test_c_module(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/hello/{name}", hello_c.hello)
  app.router:add_get("/ws", hello_c.ws_echo)
  local client = aiohttp_client(app)
  assert(client:get("/hello/ada"):text() == "Hello, ada")
  local ws = client:ws_connect("/ws")
  assert(ws:receive().data == "hello from C")
  ws:close()
end
LUA]])
  -- As after ldconfig in a real install, the loader finds libluatest.so.0.
  local out = ok(string.format("cd %q && LD_LIBRARY_PATH=%q %q spec/; rm -rf %q", dir, dest .. prefix .. "/lib",
    dest .. prefix .. "/bin/luatest", dir))
  assert(out:find("1 passed, 0 failed\n", 1, true), out)
end

function test_a_c_handler_module_loads_in_an_embedding_host_built_with_the_pc(dest)
  local dir = ok("mktemp -d"):gsub("\n$", "")
  build_module(dest, dir)
  local out = ok(string.format([[
    cc -o %q/host bench/host.c $(%s)
    unset LUA_PATH LUA_PATH_5_4 LUA_CPATH LUA_CPATH_5_4
    LUA_CPATH_5_4="%s/?.so;;" LD_LIBRARY_PATH=%q %q/host spec/data/c_module.lua
    rm -rf %q]], dir, pkg_config(dest, "--cflags --libs luatest lua5.4"), dir, dest .. prefix .. "/lib", dir, dir))
  luatest.eq(out, "Hello, ada | hello from C | C got over the wire\n")
end

function test_uninstall_removes_exactly_what_install_put_there()
  local dir = ok("mktemp -d"):gsub("\n$", "")
  ok(string.format("mkdir -p %q/opt/tools/bin && touch %q/opt/tools/bin/other", dir, dir))
  ok(string.format("make -s install PREFIX=/opt/tools DESTDIR=%q >/dev/null", dir), 300)
  local installed = ok(string.format("cd %q && find . -type f -o -type l | wc -l", dir))
  luatest.eq(tonumber(installed), select(2, expected_files():gsub("\n", "")) + 1)
  ok(string.format("make -s uninstall PREFIX=/opt/tools DESTDIR=%q >/dev/null", dir))
  local left = ok(string.format("cd %q && find . -type f -o -type l; find . -name '*luatest*'; rm -rf %q", dir, dir))
  luatest.eq(left, "./opt/tools/bin/other\n")
end
