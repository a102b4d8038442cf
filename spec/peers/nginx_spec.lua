-- The TestClient against a real nginx (Debian's nginx-light) started on a
-- loopback port with a generated configuration: static files, chunked
-- responses and keep-alive reuse.
local luatest = require "luatest"
local core = require "luatest.core"
local test_utils = require "luatest.test_utils"

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

luatest.fixture("nginx", function()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir .. "/www/sub"))
  write(dir .. "/www/index.html", "<p>from nginx</p>")
  write(dir .. "/www/sub/data.txt", string.rep("0123456789", 1000))
  write(dir .. "/www/filtered.txt", "hello NAME, hello NAME")
  local port, tls_port = test_utils.unused_port(), test_utils.unused_port()
  -- nginx serves https too, with the process's test certificate.
  local cert, key = core.tls_test_cert()
  write(dir .. "/cert.pem", cert)
  write(dir .. "/key.pem", key)
  write(dir .. "/nginx.conf", string.format([[
daemon off;
master_process off;
worker_processes 1;
pid %s/nginx.pid;
error_log %s/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %s/body;
  proxy_temp_path %s/proxy;
  fastcgi_temp_path %s/fastcgi;
  uwsgi_temp_path %s/uwsgi;
  scgi_temp_path %s/scgi;
  types { text/html html; text/plain txt; }
  keepalive_requests 1000;
  server {
    listen 127.0.0.1:%d;
    root %s/www;
    location /gz/ {
      alias %s/www/sub/;
      gzip on;
      gzip_types text/plain;
      gzip_min_length 1;
    }
    location /filtered.txt {
      sub_filter NAME luatest;
      sub_filter_once off;
      sub_filter_types text/plain;
    }
  }
  server {
    listen 127.0.0.1:%d ssl;
    ssl_certificate %s/cert.pem;
    ssl_certificate_key %s/key.pem;
    root %s/www;
  }
}
]], dir, dir, dir, dir, dir, dir, dir, port, dir, dir, tls_port, dir, dir, dir))
  local task = core.spawn(core.exec, { "nginx", "-c", dir .. "/nginx.conf", "-e", dir .. "/error.log" },
    { timeout = 120 })
  -- Wait until it accepts connections.
  for _ = 1, 100 do
    local got = core.tcp_exchange("127.0.0.1", port, "HEAD / HTTP/1.0\r\n\r\n", { timeout = 1 })
    if got:find("^HTTP/1.1 200") then
      break
    end
    core.sleep(0.02)
  end
  local client = core.client()
  local function get(path, headers)
    local flat = {}
    for k, v in pairs(headers or {}) do
      flat[#flat + 1] = k
      flat[#flat + 1] = v
    end
    local resp = assert(client:request("GET", "127.0.0.1", port, path, flat, nil, 10))
    local h = {}
    for i = 1, #resp.headers, 2 do
      h[resp.headers[i]:lower()] = resp.headers[i + 1]
    end
    resp.h = h
    return resp
  end
  return { get = get, client = client, port = port, url = "http://127.0.0.1:" .. port,
    https_url = "https://127.0.0.1:" .. tls_port, certificate = cert }, function()
    client:close()
    task:cancel()
    os.execute("rm -rf " .. dir)
  end
end)

function test_static_files_from_nginx(nginx)
  local resp = nginx.get("/index.html")
  assert(resp.status == 200 and resp.body == "<p>from nginx</p>", resp.status)
  assert(resp.h["content-type"] == "text/html")
  resp = nginx.get("/sub/data.txt")
  assert(#resp.body == 10000 and resp.h["content-length"] == "10000")
  local last_modified = resp.h["last-modified"]
  assert(nginx.get("/sub/data.txt", { ["If-Modified-Since"] = last_modified }).status == 304)
  assert(nginx.get("/missing").status == 404)
end

function test_chunked_response_from_nginx(nginx)
  local resp = nginx.get("/filtered.txt")
  assert(resp.h["transfer-encoding"] == "chunked", tostring(resp.h["transfer-encoding"]))
  assert(resp.body == "hello luatest, hello luatest", resp.body)
end

function test_keep_alive_reuse_with_nginx(nginx)
  local before = nginx.client:stats().connects
  for _ = 1, 10 do
    assert(nginx.get("/index.html").status == 200)
    assert(nginx.get("/filtered.txt").status == 200)
  end
  assert(nginx.client:stats().connects - before <= 1, nginx.client:stats().connects - before)
end

-- A ClientSession, as for any server: nginx gzips the file for a client
-- that accepts it, and the session decodes it as it arrives.
function test_a_client_session_reads_gzip_from_nginx(nginx)
  local client = require "luatest.client"
  local session = client.ClientSession { base_url = nginx.url }
  local resp = session:get("/gz/data.txt")
  luatest.eq(resp.status, 200)
  luatest.eq(resp.headers["Content-Encoding"], "gzip")
  luatest.eq(resp:text(), string.rep("0123456789", 1000))
  local chunks, total = 0, 0
  for chunk in session:get("/gz/data.txt").content:iter_chunked(1000) do
    chunks, total = chunks + 1, total + #chunk
  end
  luatest.eq(total, 10000)
  assert(chunks >= 10, chunks)
  luatest.eq(session:get("/gz/data.txt", { auto_decompress = false }):read():sub(1, 2), "\31\139")
  session:close()
end

function test_a_session_over_https_to_nginx(nginx)
  local client = require "luatest.client"
  local errors = require "luatest.client_exceptions"
  local session = client.ClientSession { ssl = { ca_pem = nginx.certificate } }
  for _ = 1, 3 do -- (one kept-alive TLS connection)
    local resp = session:get(nginx.https_url .. "/sub/data.txt")
    luatest.eq(resp.status, 200)
    luatest.eq(resp:text(), string.rep("0123456789", 1000))
  end
  luatest.eq(session._client:stats().connects, 1)
  session:close()
  local untrusting = client.ClientSession()
  local ok, err = pcall(untrusting.get, untrusting, nginx.https_url .. "/index.html")
  untrusting:close()
  luatest.eq(ok, false)
  luatest.eq(errors.is(err, errors.ClientConnectorCertificateError), true, tostring(err))
end
