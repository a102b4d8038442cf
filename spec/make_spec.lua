-- The Makefile's first pass: it trusts the files the build needs, not the
-- package status, and names what is missing.
local luatest = require "luatest"
local core = require "luatest.core"

local function make(args)
  local result = assert(core.exec({ "sh", "-c", "unset MAKEFLAGS MFLAGS MAKELEVEL LT_PLANNED; make " .. args },
    { timeout = 120, cwd = core.srcdir }))
  return result.status, result.stdout .. result.stderr
end

function test_a_missing_file_of_an_installed_package_is_caught()
  -- pkg-config is installed (the build runs it); its file here is not there.
  local status, out = make("DEPS_INSTALL=no BUILD_DEPS='pkg-config:/nonexistent/lt-probe.c' all")
  luatest.eq(status, 2)
  assert(out:find("luatest: missing /nonexistent/lt-probe.c; install the Debian packages: pkg-config\n", 1, true),
    out)
  assert(not out:find("Entering directory", 1, true) and not out:find("cc ", 1, true), out)
end

function test_goals_that_need_no_packages_check_none()
  local dest = os.tmpname()
  os.remove(dest)
  local status, out = make("DEPS_INSTALL=no BUILD_DEPS='pkg-config:/nonexistent/lt-probe.c' uninstall DESTDIR="
    .. dest)
  luatest.eq(status, 0, out)
  assert(out:find("rm -f " .. dest .. "/usr/local/bin/luatest", 1, true), out)
end

function test_the_build_is_planned_in_a_second_invocation_after_the_check()
  local status, out = make("-n all")
  luatest.eq(status, 0)
  -- The first pass runs the second even under -n (a recursive make); the
  -- second plans with the packages' files in place.
  assert(out:find("LT_PLANNED=1 all", 1, true), out)
end
