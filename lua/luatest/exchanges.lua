--- luatest.exchanges: the last HTTP exchanges (and WebSocket handshakes)
--- the clients made, for the report of a failing test. Recording keeps
--- references only (the header lists, the request body, the response
--- object) in a ring of SIZE entries; nothing is copied, truncated or
--- formatted unless report() is called, which the runner does only for a
--- failed test.
local format, type, tostring, rawget = string.format, type, tostring, rawget

local M = {}

--- How many exchanges are kept, and how much of each body is shown.
M.SIZE, M.BODY = 10, 200

-- ring[1..SIZE], reused; `total` counts the exchanges since the last reset.
local ring, total = {}, 0

--- reset(): forgets the exchanges (the runner calls it as each test starts
--- and after it, so that no response outlives its test here).
function M.reset()
  for i = 1, total < M.SIZE and total or M.SIZE do
    ring[i] = nil
  end
  total = 0
end

--- record(method, scheme, host, port, target, headers, body): notes a
--- request about to be sent (headers: the flat name, value list sent;
--- body: the string sent, a function for a streamed body, or nil) and
--- returns its entry, which the caller completes: entry.resp (the
--- response), or entry.error (the message of a connection error).
function M.record(method, scheme, host, port, target, headers, body)
  total = total + 1
  local i = (total - 1) % M.SIZE + 1
  local e = ring[i]
  if e and e.resp ~= nil and e.error == nil and not e.lines then
    -- The entry is reused: its request has its response, and nothing
    -- writes to an entry after that (one still waiting is never reused).
    e[1], e[2], e[3], e[4], e[5], e[6], e[7] = method, scheme, host, port, target, headers, body
    e.resp = nil
    return e
  end
  e = { method, scheme, host, port, target, headers, body }
  ring[i] = e
  return e
end

--- record_ws(scheme, host, port, target, lines): notes a WebSocket
--- handshake (lines: the "Name: value\r\n" header lines sent); the caller
--- sets entry.ws = true when it succeeded, or entry.error.
function M.record_ws(scheme, host, port, target, lines)
  total = total + 1
  local e = { "GET", scheme, host, port, target, nil, nil, lines = lines }
  ring[(total - 1) % M.SIZE + 1] = e
  return e
end

--- count(): the exchanges noted since the last reset.
function M.count()
  return total
end

-- ---- the report ------------------------------------------------------------------------------

local REDACTED = { authorization = true, ["proxy-authorization"] = true, cookie = true, ["set-cookie"] = true }

local function header_line(name, value)
  name = tostring(name)
  if REDACTED[name:lower()] then
    return name .. ": (redacted)"
  end
  return name .. ": " .. tostring(value)
end

-- Control bytes as \xNN, so that a binary body cannot garble a terminal.
local function printable(s)
  return (s:gsub("[%z\1-\8\11-\31\127]", function(c)
    return format("\\x%02X", c:byte())
  end))
end

-- The shown part of a body and its size.
local function body_part(s)
  if #s <= M.BODY then
    return printable(s), #s
  end
  return printable(s:sub(1, M.BODY)), #s
end

local function flat_headers(flat)
  if not flat or #flat == 0 then
    return nil
  end
  local out = {}
  for i = 1, #flat - 1, 2 do
    out[#out + 1] = header_line(flat[i], flat[i + 1])
  end
  return out
end

local function line_headers(lines)
  local out = {}
  for _, l in ipairs(lines or {}) do
    local name, value = l:match("^([^:]*):%s*(.-)\r?\n?$")
    if name then
      out[#out + 1] = header_line(name, value)
    end
  end
  return #out > 0 and out or nil
end

local function url_of(e)
  local scheme, host, port = e[2], tostring(e[3]), e[4]
  if host:find(":", 1, true) then
    host = "[" .. host .. "]"
  end
  return format("%s://%s:%s%s", scheme, host, tostring(port), tostring(e[5]))
end

-- The response body as the test read it: never read here.
local function response_body(resp)
  local body = rawget(resp, "_body")
  if rawget(resp, "_read") and type(body) == "string" then
    return body
  end
  if rawget(resp, "content") ~= nil then
    if type(body) == "string" then
      return body
    end
    return nil, "read as a stream through resp.content, not kept"
  end
  return nil, "not read by the test"
end

local function entry_report(e)
  local r = { method = e[1], url = url_of(e) }
  if e.lines then
    r.websocket = true
    r.request_headers = line_headers(e.lines)
  else
    r.request_headers = flat_headers(e[6])
    local body = e[7]
    if type(body) == "string" then
      r.request_body, r.request_body_size = body_part(body)
    elseif body ~= nil then
      r.request_body_note = "streamed, not kept"
    end
  end
  if e.error then
    r.error, r.status = tostring(e.error), e.status
    return r
  end
  if e.ws then
    r.status, r.reason = 101, "Switching Protocols"
    return r
  end
  local resp = e.resp
  if not resp then
    r.no_response = "still waiting when the test ended, or interrupted"
    return r
  end
  r.status, r.reason = resp.status, resp.reason
  r.response_headers = flat_headers(rawget(resp, "_raw_headers"))
  local body, note = response_body(resp)
  if body then
    r.response_body, r.response_body_size = body_part(body)
  else
    r.response_body_note = note
  end
  return r
end

--- report(): the exchanges noted since the last reset, oldest first, at
--- most SIZE of them, as plain tables (strings and numbers only, so that a
--- -j worker can send them): { method, url, status, reason, error (a
--- connection error's message), no_response (why there is neither),
--- websocket (true for a handshake),
--- request_headers, response_headers (lists of "Name: value", credentials
--- redacted), request_body, response_body (their first BODY bytes),
--- request_body_size, response_body_size, request_body_note,
--- response_body_note (why a body is not shown) }, and the number of
--- exchanges there were; nil when there were none.
function M.report()
  if total == 0 then
    return nil
  end
  local n = total < M.SIZE and total or M.SIZE
  local out = {}
  for k = total - n + 1, total do
    out[#out + 1] = entry_report(ring[(k - 1) % M.SIZE + 1])
  end
  return out, total
end

local function body_line(lines, label, body, size, note)
  if body then
    local more = size > M.BODY and format(", first %d shown", M.BODY) or ""
    lines[#lines + 1] = format("    %s body (%d byte%s%s): %s", label, size, size == 1 and "" or "s", more,
      (body:gsub("\n", "\n      ")))
  elseif note then
    lines[#lines + 1] = format("    %s body: (%s)", label, note)
  end
end

--- text_lines(list, total, lines): appends the lines of the text report
--- for a report() list (total: how many exchanges there were).
function M.text_lines(list, total_n, lines)
  local n = #list
  total_n = total_n or n
  if total_n > n then
    lines[#lines + 1] = format("HTTP exchanges (the last %d of %d):", n, total_n)
  else
    lines[#lines + 1] = format("HTTP exchange%s (%d):", n == 1 and "" or "s", n)
  end
  for _, r in ipairs(list) do
    local what = r.websocket and "WebSocket " or ""
    if r.error and r.status then
      lines[#lines + 1] = format("  %s%s %s -> %d: %s", what, r.method, r.url, r.status, r.error)
    elseif r.error then
      lines[#lines + 1] = format("  %s%s %s -> connection error: %s", what, r.method, r.url, r.error)
    elseif r.no_response then
      lines[#lines + 1] = format("  %s%s %s -> no response (%s)", what, r.method, r.url, r.no_response)
    else
      lines[#lines + 1] = format("  %s%s %s -> %s %s", what, r.method, r.url, tostring(r.status),
        tostring(r.reason or ""))
    end
    for _, h in ipairs(r.request_headers or {}) do
      lines[#lines + 1] = "    > " .. h
    end
    body_line(lines, "request", r.request_body, r.request_body_size, r.request_body_note)
    for _, h in ipairs(r.response_headers or {}) do
      lines[#lines + 1] = "    < " .. h
    end
    body_line(lines, "response", r.response_body, r.response_body_size, r.response_body_note)
  end
  return lines
end

return M
