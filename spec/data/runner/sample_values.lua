-- Plain asserts whose report shows the values of the locals, upvalues and
-- fields the failing line names.
local limit = 3

local function response(status)
  return { status = status, headers = { ["Content-Type"] = "text/plain" }, body = "oops" }
end

function test_fields()
  local resp = response(500)
  assert(resp.status == 200 and resp.headers["Content-Type"] == "text/html")
end

function test_upvalue()
  local count = 5
  assert(count <= limit, "too many")
end

function test_nil()
  local resp = nil
  assert(resp.status == 200)
end

function test_method_call_is_not_evaluated()
  local resp = response(404)
  local calls = 0
  resp.text = function() calls = calls + 1 return "x" end
  assert(resp:text() == "y" and resp.body == "ok")
end
