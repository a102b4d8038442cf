-- web.normalize_path_middleware beside aiohttp's: the same requests to an
-- aiohttp app (spec/peers/py/web_normalize.py) and to its luatest twin;
-- the X-Normalize header picks the middleware's configuration in both.
local luatest = require "luatest"
local core = require "luatest.core"
local web = require "luatest.web"
local twin = dofile(core.srcdir .. "/spec/support/twin.lua")

local HEADERS = { "Location", "Content-Type", "Content-Length", "Allow" }

local function text(s)
  return function()
    return s
  end
end

twin.fixture("normalize", "web_normalize.py", function()
  local configs = {
    default = web.normalize_path_middleware(),
    remove = web.normalize_path_middleware { append_slash = false, remove_slash = true },
    nomerge = web.normalize_path_middleware { merge_slashes = false },
    mergeonly = web.normalize_path_middleware { append_slash = false },
    found = web.normalize_path_middleware { redirect_class = web.HTTPFound },
  }
  local function pick(request, handler)
    return configs[request.headers["X-Normalize"] or "default"](request, handler)
  end
  local app = web.Application { middlewares = { pick } }
  app.router:add_get("/", text "root")
  app.router:add_get("/a/", text "a/")
  app.router:add_get("/b", text "b")
  app.router:add_get("/a/b", text "a/b")
  app.router:add_get("/c/{name}/", function(request)
    return "c " .. request.match_info.name
  end)
  app.router:add_post("/p/", text "p/")
  app.router:add_get("/both", text "both")
  app.router:add_get("/both/", text "both/")
  app.router:add_get("/sp ace/", text "sp ace/")
  return app
end)

local function compare(pair, config, method, path)
  local py, lt = pair:both(method, path, { headers = { ["X-Normalize"] = config } })
  twin.same(py, lt, HEADERS, config .. ": " .. method .. " " .. path)
  return py
end

local PATHS = { "/a", "/a/", "/a?x=1&y=%20", "//a//b", "/a//b", "//a", "///a/", "/b", "/b/", "//b//",
  "/a/b/", "//a//b/", "/a/b//", "/both", "/both/", "/nothing", "/nothing/", "/c/x", "/c/x/", "//c//x",
  "/c/x//", "/p", "/p/", "/sp%20ace", "/", "//", "///?q=1", "/a/?", "/b/?k=v", "//evil.example",
  "///evil.example/", "/%2Fa" }

function test_every_configuration_beside_aiohttp(normalize)
  for _, config in ipairs { "default", "remove", "nomerge", "mergeonly", "found" } do
    for _, path in ipairs(PATHS) do
      compare(normalize, config, "GET", path)
    end
    compare(normalize, config, "POST", "/p")
    compare(normalize, config, "POST", "//p")
    compare(normalize, config, "HEAD", "/a")
    compare(normalize, config, "POST", "/a")
  end
end

function test_what_the_answers_are(normalize)
  local function location(config, path)
    local py = compare(normalize, config, "GET", path)
    return py.status, py.headers["Location"]
  end
  local status, where = location("default", "/a?x=1")
  assert(status == 308 and where == "/a/?x=1", where)
  status, where = location("default", "//a//b")
  assert(status == 308 and where == "/a/b", where)
  status, where = location("remove", "/b/")
  assert(status == 308 and where == "/b", where)
  status, where = location("found", "/a")
  assert(status == 302 and where == "/a/", where)
  assert(location("default", "/both") == 200 and location("default", "/both/") == 200)
  assert(location("default", "/nothing") == 404)
end

luatest.describe("normalize_path_middleware", function()
  luatest.it("refuses both append_slash and remove_slash, and unknown options", function()
    local ok, err = pcall(web.normalize_path_middleware, { remove_slash = true })
    assert(not ok and err:find("web.normalize_path_middleware: cannot both remove and append slash", 1, true), err)
    ok, err = pcall(web.normalize_path_middleware, { append = true })
    assert(not ok and err:find("web.normalize_path_middleware: unknown option 'append'", 1, true), err)
    ok, err = pcall(web.normalize_path_middleware, { redirect_class = web.HTTPNotFound })
    assert(not ok and err:find("redirect_class", 1, true), err)
  end)

  luatest.it("redirects inside a sub-application's prefix", function(aiohttp_client)
    local sub = web.Application()
    sub.router:add_get("/x/", text "sub x/")
    local app = web.Application { middlewares = { web.normalize_path_middleware() } }
    app:add_subapp("/sub", sub)
    local client = aiohttp_client(app)
    local resp = client:get("/sub/x", { allow_redirects = false })
    assert(resp.status == 308 and resp.headers["Location"] == "/sub/x/", resp.status)
    assert(client:get("/sub/x"):text() == "sub x/")
  end)
end)
