--- luatest.formdata: request bodies from fields, as aiohttp's FormData:
--- application/x-www-form-urlencoded, or multipart/form-data as soon as a
--- field has a filename or a content type.
local core = require "luatest.core"
local multidict = require "luatest.multidict"

local format, type, tostring, error, setmetatable, pairs, ipairs = string.format, type, tostring, error,
  setmetatable, pairs, ipairs
local concat = table.concat

local M = {}

--- encode_form(fields) -> "a=1&b=x+y" (a map, a multidict or a list of
--- {name, value} pairs).
function M.encode_form(src)
  local parts = {}
  multidict.each_pair(src, function(k, v)
    parts[#parts + 1] = core.urlencode(tostring(k), true) .. "=" .. core.urlencode(tostring(v), true)
  end)
  return concat(parts, "&")
end

local boundary_counter = 0

local function new_boundary()
  boundary_counter = boundary_counter + 1
  return format("luatest-%x-%x-%d", os.time(), math.random(0, 0x7fffffff), boundary_counter)
end

local function quote(s)
  return (tostring(s):gsub('"', "%%22"))
end

-- parts: a list of {name =, value =, filename =, content_type =}.
local function encode_parts(parts)
  local boundary = new_boundary()
  local out = {}
  for _, p in ipairs(parts) do
    local head = format('--%s\r\nContent-Disposition: form-data; name="%s"', boundary, quote(p.name))
    if p.filename then
      head = head .. format('; filename="%s"', quote(p.filename))
    end
    out[#out + 1] = head .. "\r\n"
    if p.content_type then
      out[#out + 1] = "Content-Type: " .. p.content_type .. "\r\n"
    end
    out[#out + 1] = "\r\n"
    out[#out + 1] = tostring(p.value)
    out[#out + 1] = "\r\n"
  end
  out[#out + 1] = "--" .. boundary .. "--\r\n"
  return concat(out), "multipart/form-data; boundary=" .. boundary
end

--- encode_multipart(fields) -> body, content type: a field whose value is
--- a table {content =, filename =, content_type =} is a file part.
function M.encode_multipart(src)
  local parts = {}
  multidict.each_pair(src, function(name, value)
    if type(value) == "table" then
      parts[#parts + 1] = { name = name, value = value.content or "", filename = value.filename or name,
        content_type = value.content_type or "application/octet-stream" }
    else
      parts[#parts + 1] = { name = name, value = value }
    end
  end)
  return encode_parts(parts)
end

--- has_file_part(fields): whether a field is a file part (a table).
function M.has_file_part(src)
  local found = false
  multidict.each_pair(src, function(_, v)
    found = found or type(v) == "table"
  end)
  return found
end

local FormData = {}
FormData.__index = FormData
FormData.__name = "FormData"

--- FormData([fields]): fields as encode_form takes them.
function M.FormData(fields)
  local self = setmetatable({ _fields = {}, _multipart = false }, FormData)
  if fields ~= nil then
    if type(fields) ~= "table" then
      error("FormData: expected a table of fields, got " .. type(fields), 2)
    end
    multidict.each_pair(fields, function(k, v)
      self:add_field(k, v)
    end)
  end
  return self
end

local field_options = { filename = true, content_type = true, content_transfer_encoding = true }

--- form:add_field(name, value, {filename =, content_type =})
function FormData:add_field(name, value, opts)
  if type(name) ~= "string" then
    error("FormData:add_field: name must be a string, got " .. type(name), 2)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if not field_options[k] then
      error(format("FormData:add_field: unknown option '%s'", tostring(k)), 2)
    end
  end
  if io.type(value) == "file" then
    local data = value:read("*a")
    value = data or ""
    self._multipart = true
    opts.filename = opts.filename or name
  end
  if opts.filename ~= nil or opts.content_type ~= nil then
    self._multipart = true
  end
  self._fields[#self._fields + 1] = { name = name, value = tostring(value), filename = opts.filename,
    content_type = opts.content_type or (opts.filename and "application/octet-stream") }
end

function FormData:is_multipart()
  return self._multipart
end

--- form:encode() -> body, content type.
function FormData:encode()
  if self._multipart then
    local parts = {}
    for i, f in ipairs(self._fields) do
      parts[i] = f
    end
    return encode_parts(parts)
  end
  local pairs_list = {}
  for i, f in ipairs(self._fields) do
    pairs_list[i] = { f.name, f.value }
  end
  return M.encode_form(pairs_list), "application/x-www-form-urlencoded"
end

function M.is_form_data(x)
  return getmetatable(x) == FormData
end

return M
