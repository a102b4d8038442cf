-- Headless Chromium (Debian's chromium) loads a page from a TestServer whose
-- script opens a WebSocket to the same server, exchanges messages, and
-- reports the result with a POST that the test waits for.
local core = require "luatest.core"
local luatest = require "luatest"
local web = require "luatest.web"

local page = [[<!doctype html>
<html><body><script>
const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`, ["chat.v1"]);
const seen = [];
ws.onopen = () => { ws.send("hello from chromium"); ws.send(new Uint8Array([0, 1, 255])); };
ws.onmessage = async (ev) => {
  seen.push(typeof ev.data === "string" ? ev.data : "binary:" + (await ev.data.arrayBuffer()).byteLength);
  if (seen.length === 2) ws.close(4003, "browser done");
};
ws.onclose = (ev) => {
  fetch("/report", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ seen, code: ev.code, protocol: ws.protocol }) });
};
</script></body></html>]]

local function talk(aiohttp_client, scheme)
  local report, server_close_code
  local app = web.Application()
  app.router:add_get("/", function()
    return web.Response { text = page, content_type = "text/html" }
  end)
  app.router:add_get("/ws", function(request)
    local ws = web.WebSocketResponse { protocols = { "chat.v1" } }
    ws:prepare(request)
    for msg in ws:messages() do
      if msg.type == "text" then
        ws:send_str("echo: " .. msg.data)
      else
        ws:send_bytes(msg.data .. msg.data)
      end
    end
    server_close_code = ws.close_code
    return ws
  end)
  app.router:add_post("/report", function(request)
    report = request:json()
    report.scheme = request.scheme
    return "thanks"
  end)
  local client = aiohttp_client(app, { server_kwargs = { scheme = scheme } })
  local profile = os.tmpname()
  os.remove(profile)
  local argv = { "chromium", "--headless", "--no-sandbox", "--disable-gpu",
    "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--user-data-dir=" .. profile }
  if scheme == "https" then
    -- Chromium trusts the test certificate by its key, and nothing else.
    argv[#argv + 1] = "--ignore-certificate-errors-spki-list=" .. core.tls_spki_sha256(client.server.certificate)
  end
  argv[#argv + 1] = client:make_url("/")
  local browser = luatest.spawn(core.exec, argv, { timeout = 60 })
  local t0 = core.hrtime()
  while not report and core.hrtime() - t0 < 45 do
    luatest.sleep(0.05)
  end
  browser:cancel()
  os.execute("rm -rf " .. profile)
  assert(report, "chromium never reported back")
  assert(report.seen[1] == "echo: hello from chromium", tostring(report.seen[1]))
  assert(report.seen[2] == "binary:6", tostring(report.seen[2]))
  assert(report.code == 4003, report.code)
  assert(report.protocol == "chat.v1")
  assert(server_close_code == 4003, tostring(server_close_code))
  assert(report.scheme == scheme, report.scheme)
end

function test_chromium_talks_websocket_to_a_test_server(aiohttp_client)
  talk(aiohttp_client, "http")
end

function test_chromium_loads_https_and_talks_wss_to_a_test_server(aiohttp_client)
  talk(aiohttp_client, "https")
end
