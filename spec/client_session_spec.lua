
-- Our server compresses as aiohttp's does, and a Python aiohttp client
-- reads it; our client decodes it.
function test_our_server_compresses_for_aiohttp_and_for_us(aiohttp_client)
  local web = require "luatest.web"
  local app = web.Application()
  app.router:add_get("/auto", function()
    local resp = web.Response { text = string.rep("compress me ", 100) }
    resp:enable_compression()
    return resp
  end)
  app.router:add_get("/gzip", function()
    return web.Response { text = string.rep("gz ", 100), compress = "gzip" }
  end)
  local c = aiohttp_client(app)
  local resp = c:get("/auto")
  eq(resp.headers["Content-Encoding"], "deflate") -- aiohttp's first choice
  eq(resp:text(), string.rep("compress me ", 100))
  eq(c:get("/gzip"):text(), string.rep("gz ", 100))
  -- a request that accepts neither gets the body as it is
  resp = c:get("/auto", { headers = { ["Accept-Encoding"] = "br" } })
  eq(resp.headers["Content-Encoding"], nil)
  eq(resp:text(), string.rep("compress me ", 100))
  local out = python.run([[
import asyncio, sys, aiohttp
async def main(url):
    async with aiohttp.ClientSession() as s:
        for path in ("/auto", "/gzip"):
            async with s.get(url + path) as r:
                body = await r.text()
                print(r.headers.get("Content-Encoding"), len(body), body[:3])
asyncio.run(main(sys.argv[1]))
]], c:make_url(""):gsub("/$", ""))
  eq(out, "deflate 1200 com\ngzip 300 gz \n")
end
