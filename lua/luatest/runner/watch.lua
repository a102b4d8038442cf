--- luatest.runner.watch: --watch. Runs the tests, then waits for a Lua file
--- below the paths to change (file-system events on every directory of
--- the trees, as inotify is not recursive) and runs again: only the spec
--- files that changed, or all of them when another Lua file (a helper
--- module, a conftest.lua, the code under test) changed. A burst of events
--- (an editor's save writes, renames and chmods) is taken as one change
--- once 100 ms pass without another. Each run is a run of its own, with its
--- own closing line; the modules that the runs loaded (other than
--- luatest's) are forgotten before the next, so that it loads them anew.
--- SIGINT or SIGTERM while waiting ends the watch with status 0, as
--- pytest-watch ends on Ctrl-C; during a run they act as without --watch.
local core = require "luatest.core"
local discover = require "luatest.runner.discover"

local format, concat, sort, pairs, ipairs = string.format, table.concat, table.sort, pairs, ipairs

local M = {}

--- The quiet time that ends a burst of events, in seconds.
M.QUIET = 0.1

local SIGINT, SIGTERM = 2, 15

local function strip(path)
  while #path > 1 and path:sub(-1) == "/" do
    path = path:sub(1, -2)
  end
  return path
end

local function normal(path)
  while path:sub(1, 2) == "./" do
    path = path:sub(3)
  end
  return path
end

-- The directories to watch: each directory path, every directory below it
-- but hidden ones (those discovery skips too), and the directory of each
-- file path.
local function directories(roots)
  local dirs, seen = {}, {}
  local function add(d)
    if not seen[d] then
      seen[d] = true
      dirs[#dirs + 1] = d
    end
  end
  local function walk(dir)
    add(dir)
    for _, e in ipairs(core.listdir(dir) or {}) do
      local name, kind = e[1], e[2]
      local path = (dir == "." and "" or dir .. "/") .. name
      if kind == "other" then
        kind = core.stat(path)
      end
      if kind == "dir" and name:sub(1, 1) ~= "." then
        walk(path)
      end
    end
  end
  for _, root in ipairs(roots) do
    root = strip(root)
    local kind = core.stat(root)
    if kind == "dir" then
      walk(root)
    elseif kind == "file" then
      add(root:match("^(.*)/[^/]*$") or ".")
    end
  end
  return dirs
end

-- Whether path is below one of the roots (or one of them).
local function below(path, roots)
  for _, root in ipairs(roots) do
    root = normal(strip(root))
    if root == "." or path == root or path:sub(1, #root + 1) == root .. "/" then
      return true
    end
  end
  return false
end

local function plural(n, word)
  return format("%d %s%s", n, word, n == 1 and "" or "s")
end

--- run(roots, run_once, out): runs run_once(nil) (all the paths), then
--- run_once(files) for the spec files that changed, or run_once(nil) again
--- when another Lua file did, until SIGINT or SIGTERM. roots are the paths
--- to watch; status lines go to out. Returns the exit status.
function M.run(roots, run_once, out)
  local watcher = core.fs_watch()
  local watched = {}
  -- Watches the directories not watched yet; returns the Lua files they
  -- already hold (written before the watch on their directory began).
  local function watch_dirs()
    local files = {}
    for _, d in ipairs(directories(roots)) do
      if not watched[d] then
        local ok, err = watcher:add(d)
        if not ok then
          return nil, err
        end
        watched[d] = true
        for _, e in ipairs(core.listdir(d) or {}) do
          if e[1]:sub(-4) == ".lua" then
            files[#files + 1] = (d == "." and "" or d .. "/") .. e[1]
          end
        end
      end
    end
    return files
  end
  local ok, err = watch_dirs()
  if not ok then
    io.stderr:write("luatest: --watch: ", err, "\n")
    watcher:close()
    return 2
  end
  local where = {}
  for i, r in ipairs(roots) do
    where[i] = r
  end
  local banner = format("-- watching %s for changes (Ctrl-C to stop)\n", concat(where, " "))
  local loaded = {}
  for name in pairs(package.loaded) do
    loaded[name] = true
  end
  local function forget_modules()
    for name in pairs(package.loaded) do
      if not loaded[name] and name ~= "luatest" and name:sub(1, 8) ~= "luatest." then
        package.loaded[name] = nil
      end
    end
  end

  -- The Lua files that changed, after a burst has settled; nil and the
  -- signal when one came.
  local function changes()
    return core.run_until_complete(function()
      watcher:catch(SIGINT)
      watcher:catch(SIGTERM)
      local found, order = {}, {}
      local function take(list)
        for _, p in ipairs(list) do
          p = normal(p)
          if not found[p] then
            found[p] = true
            order[#order + 1] = p
          end
        end
      end
      while true do
        local list, _, sig = watcher:wait()
        if not list then
          return nil, sig
        end
        take(list)
        -- the rest of the burst
        while #list > 0 do
          list, _, sig = watcher:wait(M.QUIET)
          if not list then
            return nil, sig
          end
          take(list)
        end
        for _, p in ipairs(order) do
          -- a new directory is watched from now on
          if core.stat(p) == "dir" then
            take(watch_dirs() or {})
          end
        end
        local lua = {}
        for _, p in ipairs(order) do
          if p:sub(-4) == ".lua" and below(p, roots) then
            lua[#lua + 1] = p
          end
        end
        if #lua > 0 then
          watcher:release()
          return lua
        end
        found, order = {}, {}
      end
    end)
  end

  run_once(nil)
  while true do
    out:write(banner)
    out:flush()
    local changed, sig = changes()
    if not changed then
      watcher:close()
      out:write(format("-- stopped (%s)\n", sig == SIGINT and "SIGINT" or sig == SIGTERM and "SIGTERM" or
        "signal " .. tostring(sig)))
      out:flush()
      return 0
    end
    sort(changed)
    local specs, others = {}, 0
    local is_spec = {}
    for _, f in ipairs(discover.discover(roots) or {}) do
      is_spec[normal(f)] = f
    end
    for _, p in ipairs(changed) do
      if is_spec[p] then
        specs[#specs + 1] = is_spec[p]
      else
        others = others + 1
      end
    end
    local what = others > 0 and "running all files" or ("running " .. concat(specs, " "))
    out:write(format("-- %s changed: %s; %s\n", plural(#changed, "file"), concat(changed, ", "), what))
    out:flush()
    forget_modules()
    run_once(others == 0 and specs or nil)
  end
end

return M
