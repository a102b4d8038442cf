-- The TestClient against a real aiohttp server (Debian's python3-aiohttp,
-- run by /usr/bin/python3): redirects and cookies.
local luatest = require "luatest"
local core = require "luatest.core"
local test_utils = require "luatest.test_utils"

local script = core.srcdir .. "/spec/peers/py/aiohttp_server.py"

-- The server prints its port on its first line; exec collects output only at
-- exit, so the port comes from a file written by a shell wrapper.
luatest.fixture("aiohttp_peer", function()
  local portfile = os.tmpname()
  local task = core.spawn(core.exec, { "sh", "-c",
    string.format("exec /usr/bin/python3 %q 120 > %q", script, portfile) }, { timeout = 150 })
  local port
  for _ = 1, 300 do
    local f = io.open(portfile)
    local line = f and f:read("l")
    if f then
      f:close()
    end
    port = line and tonumber(line:match("^listening (%d+)"))
    if port then
      break
    end
    core.sleep(0.02)
  end
  assert(port, "the aiohttp server did not start")
  local client = test_utils.TestClient(test_utils.RawTestServer(function() end, { skip_url_asserts = true }))
  client:start_server()
  local base = "http://127.0.0.1:" .. port
  return { client = client, base = base }, function()
    client:close()
    task:cancel()
    os.remove(portfile)
  end
end)

function test_redirects_followed_with_history(aiohttp_peer)
  local client, base = aiohttp_peer.client, aiohttp_peer.base
  local resp = client:get(base .. "/redirect/3")
  assert(resp.status == 200 and resp:text() == "arrived after redirects")
  assert(#resp.history == 3)
  assert(resp.history[1].status == 302 and resp.history[1].headers["Location"] == "/redirect/2")
  assert(resp.url == base .. "/redirect/0")
  local ok, err = pcall(client.get, client, base .. "/redirect/5", { max_redirects = 2 })
  assert(not ok and err:find("too many redirects", 1, true), err)
end

function test_see_other_turns_post_into_get_and_307_keeps_it(aiohttp_peer)
  local client, base = aiohttp_peer.client, aiohttp_peer.base
  assert(client:post(base .. "/see-other", { data = "payload" }):text() == "GET body=")
  assert(client:post(base .. "/temporary", { data = "payload" }):text() == "POST body=payload")
end

function test_cookies_from_aiohttp_are_kept_and_sent_back(aiohttp_peer)
  local client, base = aiohttp_peer.client, aiohttp_peer.base
  local resp = client:get(base .. "/set-cookie")
  assert(resp.cookies.srv == "from-aiohttp")
  local seen = client:get(base .. "/echo-cookies"):json()
  assert(seen.srv == "from-aiohttp" and seen.scoped == nil)
  seen = client:get(base .. "/scoped/echo"):json()
  assert(seen.srv == "from-aiohttp" and seen.scoped == "only-here")
end
