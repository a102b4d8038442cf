--- luatest.runner.compiled: spec files and conftest.lua files loaded from
--- the chunks their last load compiled, kept in .luatest_cache/compiled/,
--- as Python keeps the bytecode of what it imported in __pycache__ (a
--- spec file's tests are many small functions, and compiling them costs as
--- much as running plain tests). A kept chunk is used only for the same
--- source text (by its hash) and the same Lua runtime, and only when its
--- own hash still holds; anything else compiles the source again. A cache
--- that cannot be written only loses the speed.
local core = require "luatest.core"
local compat = require "luatest.compat"

local format, open, remove, dump = string.format, io.open, os.remove, string.dump

local M = {}

--- The directory below the cache's, and what the first line of each of
--- its files says.
M.SUBDIR = "compiled"
local MAGIC = "luatest compiled chunk 1"

local runtime = core.runtime_id()
local hash64 = core.hash64
-- (written this run, so that the next ones prune what is gone)
local wrote_any = false

local function cache_dir()
  return require("luatest.cache").DIR .. "/" .. M.SUBDIR
end

local function entry_path(path)
  return format("%s/%s.luac", cache_dir(), hash64(path))
end

local function read_all(path)
  local f = open(path, "rb")
  if not f then
    return nil
  end
  local text = f:read("*a")
  f:close()
  return text
end

-- The head of an entry: magic, runtime, the source's hash, the chunk's
-- hash, the source's path; then the chunk.
local function head(source_hash, chunk_hash, path)
  return format("%s\n%s\n%s\n%s\n%s\n", MAGIC, runtime, source_hash, chunk_hash, path)
end

local function from_cache(epath, source_hash, path, env)
  local text = read_all(epath)
  if not text then
    return nil
  end
  local magic, rt, sh, ch, p, at = text:match("^([^\n]*)\n([^\n]*)\n([^\n]*)\n([^\n]*)\n([^\n]*)\n()")
  if magic ~= MAGIC or rt ~= runtime or sh ~= source_hash or p ~= path then
    return nil
  end
  local chunk = text:sub(at)
  if hash64(chunk) ~= ch then
    return nil
  end
  return compat.load(chunk, "@" .. path, "b", env)
end

local function store(epath, source_hash, path, fn)
  local ok, chunk = pcall(dump, fn)
  if not ok then
    return
  end
  local cache = require "luatest.cache"
  local text = head(source_hash, hash64(chunk), path) .. chunk
  if not cache.write_atomic(epath, text) then
    cache.make_dir(cache.DIR) -- (first: its .gitignore keeps the whole cache out)
    cache.make_dir(cache_dir())
    if not cache.write_atomic(epath, text) then
      return
    end
  end
  wrote_any = true
end

--- loadfile(path, env): compat.loadfile(path, "t", env), from the cache
--- when it holds the chunk of this very text.
function M.loadfile(path, env)
  local text = read_all(path)
  -- (A first line that loadfile skips (#!), a byte-order mark or a binary
  -- chunk: loadfile says what it makes of them.)
  if not text or text:find("^[#\239\27]") then
    return compat.loadfile(path, "t", env)
  end
  local source_hash = hash64(text)
  local epath = entry_path(path)
  local fn = from_cache(epath, source_hash, path, env)
  if fn then
    return fn
  end
  local err
  fn, err = compat.load(text, "@" .. path, "t", env)
  if not fn then
    return nil, err
  end
  store(epath, source_hash, path, fn)
  return fn
end

--- prune(): when this run kept a new chunk, removes the entries of source
--- files that are gone (suites made in temporary directories would
--- otherwise fill the cache).
function M.prune()
  if not wrote_any then
    return
  end
  wrote_any = false
  local dir = cache_dir()
  local list = core.listdir(dir)
  for _, e in ipairs(list or {}) do
    local name = e[1]
    if name:find("%.luac$") then
      local f = open(dir .. "/" .. name, "rb")
      local first = f and f:read("*l")
      local path
      if first == MAGIC then
        f:read("*l")
        f:read("*l")
        f:read("*l")
        path = f:read("*l")
      end
      if f then
        f:close()
      end
      if not path or core.stat(path) == nil then
        remove(dir .. "/" .. name)
      end
    end
  end
end

return M
