-- Real python3 peers for the specs (Debian's /usr/bin/python3 with
-- python3-aiohttp and python3-websockets): a client script run to its end,
-- or a server script that prints its port on its first line. A script is
-- its source (anything with a newline) or a file path.
local core = require "luatest.core"

local M = {}

local PYTHON = "/usr/bin/python3"

local function argv(script, args)
  local cmd = { PYTHON }
  if script:find("\n", 1, true) then
    cmd[#cmd + 1] = "-c"
  end
  cmd[#cmd + 1] = script
  for _, a in ipairs(args or {}) do
    cmd[#cmd + 1] = tostring(a)
  end
  return cmd
end

--- run(script, ...): runs the script with the arguments and returns its
--- standard output; a non-zero exit fails with its standard error.
function M.run(script, ...)
  local result = assert(core.exec(argv(script, { ... }), { timeout = 60 }))
  assert(result.status == 0, "python3 failed: " .. result.stderr)
  return result.stdout
end

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- serve(script, args, {timeout = 60}): starts a server script; returns
--- its port (the number ending its first line), a function that stops it,
--- and one that waits for its end and returns all it printed. exec collects
--- output only at exit, so the output goes through a file.
function M.serve(script, args, opts)
  local outfile = os.tmpname()
  local scriptfile
  if script:find("\n", 1, true) then
    scriptfile = os.tmpname()
    local f = assert(io.open(scriptfile, "w"))
    f:write(script)
    f:close()
    script = scriptfile
  end
  local words = {}
  for i, w in ipairs(argv(script, args)) do
    words[i] = shell_quote(w)
  end
  local command = "exec " .. table.concat(words, " ") .. " > " .. shell_quote(outfile)
  local task = core.spawn(core.exec, { "sh", "-c", command }, { timeout = opts and opts.timeout or 60 })
  local port
  for _ = 1, 300 do
    local f = io.open(outfile)
    local line = f and f:read("*l")
    if f then
      f:close()
    end
    port = line and tonumber(line:match("(%d+)%s*$"))
    if port then
      break
    end
    core.sleep(0.02)
  end
  local function stop()
    task:cancel()
    os.remove(outfile)
    if scriptfile then
      os.remove(scriptfile)
    end
  end
  if not port then
    stop()
    error("the python server did not start", 2)
  end
  local function output()
    task:join()
    local f = assert(io.open(outfile))
    local all = f:read("*a")
    f:close()
    return all
  end
  return port, stop, output
end

return M
