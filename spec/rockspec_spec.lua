-- The rockspec at the root: `luarocks make` builds a copy of the tree into a
-- tree of its own, and `luarocks path` then serves the modules and the
-- command. The rock's name is not "luatest", which other rocks hold.
local luatest = require "luatest"
local core = require "luatest.core"

local function sh(script, timeout)
  local result = assert(core.exec({ "sh", "-c", "unset MAKEFLAGS MFLAGS MAKELEVEL LT_PLANNED; set -e; " .. script },
    { timeout = timeout or 120, cwd = core.srcdir }))
  assert(result.status == 0, "exit " .. tostring(result.status) .. "\n" .. result.stdout .. result.stderr)
  return result.stdout
end

local rockspec
for _, entry in ipairs(assert(core.listdir(core.srcdir))) do
  rockspec = entry[1]:match("%.rockspec$") and entry[1] or rockspec
end

-- A copy of the sources (tracked and new files, no build outputs) built and
-- installed by luarocks into a tree; both removed after the file's tests.
luatest.fixture("rock_tree", function()
  local dir = sh("mktemp -d"):gsub("\n$", "")
  sh(string.format([[
    mkdir %q/src %q/tree
    git ls-files -z -co --exclude-standard | xargs -0 cp --parents -t %q/src
    cd %q/src && luarocks --lua-version=5.4 --tree %q/tree make %s > %q/luarocks.log 2>&1 ||
      { cat %q/luarocks.log; exit 1; }]], dir, dir, dir, dir, dir, rockspec, dir, dir), 300)
  return dir .. "/tree", function()
    sh(string.format("rm -rf %q", dir))
  end
end, { scope = "file" })

function test_the_rock_has_a_name_of_its_own_and_no_rock_dependencies()
  local spec = {}
  local text = assert(io.open(core.srcdir .. "/" .. rockspec)):read("*a")
  assert(require("luatest.compat").load(text, rockspec, "t", spec))() -- (5.1's load takes no string)
  luatest.eq(spec.package, "luatest-http")
  luatest.eq(rockspec, spec.package .. "-" .. spec.version .. ".rockspec")
  for _, dep in ipairs(spec.dependencies or {}) do
    assert(dep:match("^lua "), "a rock dependency: " .. dep)
  end
  luatest.eq(spec.build.type, "make")
end

function test_luarocks_path_serves_the_modules_to_a_stock_lua54(rock_tree)
  local out = sh(string.format([[
    unset LUA_PATH LUA_PATH_5_4 LUA_CPATH LUA_CPATH_5_4
    eval "$(luarocks --lua-version=5.4 --tree %q path)"
    cd / && lua5.4 -e '
      local web = require "luatest.web"
      local test_utils = require "luatest.test_utils"
      print(package.searchpath("luatest.web", package.path))
      print(package.searchpath("luatest.core", package.cpath))
      local app = web.Application()
      app.router:add_get("/", function() return "from the rock" end)
      print(require("luatest.core").run_until_complete(function()
        local client = test_utils.TestClient(test_utils.TestServer(app))
        client:start_server()
        local text = client:get("/"):text()
        client:close()
        return text
      end))']], rock_tree))
  luatest.eq(out, rock_tree .. "/share/lua/5.4/luatest/web.lua\n" .. rock_tree
    .. "/lib/lua/5.4/luatest/core.so\nfrom the rock\n")
end

function test_the_rocks_luatest_command_runs_a_suite_and_names_its_tree(rock_tree)
  local out = sh(string.format([[
    unset LUA_PATH LUA_PATH_5_4 LUA_CPATH LUA_CPATH_5_4
    eval "$(luarocks --lua-version=5.4 --tree %q path)"
    dir=$(mktemp -d) && mkdir "$dir/spec" && cd "$dir"
    cat > spec/rock_spec.lua <<'LUA'
local web = require "luatest.web"
function test_rock(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/", function() return "rock" end)
  assert(aiohttp_client(app):get("/"):text() == "rock")
end
LUA
    command -v luatest
    luatest --env | head -1
    luatest
    cd / && rm -rf "$dir"]], rock_tree))
  local bin, env = out:match("^([^\n]+)\n([^\n]+)\n")
  luatest.eq(bin, rock_tree .. "/bin/luatest")
  assert(env:find("^export LUA_PATH_5_4='" .. rock_tree:gsub("%p", "%%%0") .. "/share/lua/5%.4/%?%.lua;"), env)
  assert(out:find("\n1 passed, 0 failed\n$"), out)
end
