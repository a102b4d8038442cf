--- luatest.runner.discover: finding the spec files below the paths of a
--- run: *_spec.lua and test_*.lua, recursively, sorted, hidden directories
--- skipped; a file named directly is kept whatever its name.
local core = require "luatest.core"

local format, tostring, sort = string.format, tostring, table.sort

local M = {}

local function is_spec_name(name)
  return (name:sub(-9) == "_spec.lua" and #name > 9) or (name:sub(1, 5) == "test_" and name:sub(-4) == ".lua")
end

local function join(dir, name)
  if dir == "." then
    return name
  elseif dir:sub(-1) == "/" then
    return dir .. name
  end
  return dir .. "/" .. name
end

local function walk(dir, out)
  local entries, err = core.listdir(dir)
  if not entries then
    return nil, err
  end
  sort(entries, function(a, b)
    return a[1] < b[1]
  end)
  for _, e in ipairs(entries) do
    local name, kind = e[1], e[2]
    if name:sub(1, 1) ~= "." then
      local path = join(dir, name)
      if kind == "other" then
        kind = core.stat(path)
      end
      if kind == "dir" then
        local ok, werr = walk(path, out)
        if not ok then
          return nil, werr
        end
      elseif kind == "file" and is_spec_name(name) then
        out[#out + 1] = path
      end
    end
  end
  return true
end

--- discover(paths): the spec files below the paths (files named directly
--- are kept whatever their name), or nil and a message; and the root
--- directory of each file (file -> the path it was found under, or the
--- directory of a file named directly), where its conftest.lua files start.
function M.discover(paths)
  local files, seen, roots = {}, {}, {}
  for _, p in ipairs(paths) do
    local path = p
    while #path > 1 and path:sub(-1) == "/" do
      path = path:sub(1, -2)
    end
    local kind, err = core.stat(path)
    if not kind then
      return nil, format("%s: %s", p, (tostring(err):gsub(" %(.-%)$", "")))
    end
    local found, root = {}, path
    if kind == "dir" then
      local ok, werr = walk(path, found)
      if not ok then
        return nil, format("cannot read %s: %s", p, tostring(werr))
      end
    else
      found[1] = path
      root = path:match("^(.*)/[^/]*$") or "."
    end
    for _, f in ipairs(found) do
      if not seen[f] then
        seen[f] = true
        files[#files + 1] = f
        roots[f] = root
      end
    end
  end
  return files, roots
end

return M
