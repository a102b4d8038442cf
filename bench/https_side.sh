#!/usr/bin/env bash
# HTTPS side by side: our hello server (Lua handler, scheme "https", the
# test certificate) and nginx serving https with the same certificate,
# interleaved rounds on the same machine: wrk -c50 requests per second on
# kept-alive connections, and full TLS handshakes (openssl s_time -new).
# Run from the project root after `make`: bench/https_side.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
R=${1:-3}; DUR=${DUR:-3}
tmp=$(mktemp -d); pids=""
trap 'for p in $pids; do kill $p 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
make -s all build/bench-host >/dev/null
med() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# The test certificate, made the way every test makes it.
cat >"$tmp/cert.lua" <<'LUA'
local cert, key = require("luatest.core").tls_test_cert()
for path, pem in pairs { [arg[1] .. "/cert.pem"] = cert, [arg[1] .. "/key.pem"] = key } do
  local f = assert(io.open(path, "w")); f:write(pem); f:close()
end
LUA
build/bench-host "$tmp/cert.lua" "$tmp"

# Below the ephemeral range (32768-60999 here): a port a connection of a
# moment ago still holds in TIME_WAIT cannot be listened on.
lt_port=$((20000 + RANDOM % 12000)); ngx_port=$((lt_port + 1))
mkdir -p "$tmp/www"; printf 'Hello, world' >"$tmp/www/index.html"
cat >"$tmp/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $tmp/nginx.pid; error_log $tmp/error.log;
events { worker_connections 256; }
http {
  access_log off; keepalive_requests 100000;
  client_body_temp_path $tmp/b; proxy_temp_path $tmp/p; fastcgi_temp_path $tmp/f; uwsgi_temp_path $tmp/u; scgi_temp_path $tmp/s;
  server { listen 127.0.0.1:$ngx_port ssl; ssl_certificate $tmp/cert.pem; ssl_certificate_key $tmp/key.pem;
           root $tmp/www; location = / { default_type text/plain; try_files /index.html =404; } }
}
CONF
/usr/sbin/nginx -c "$tmp/nginx.conf" -p "$tmp" & pids="$pids $!"
build/bench-host bench/hello_server.lua "$lt_port" 100000 lua https >/dev/null & pids="$pids $!"
for p in $lt_port $ngx_port; do
  for _ in $(seq 100); do curl -sfk -o /dev/null "https://127.0.0.1:$p/" && break; sleep 0.1; done
  wrk -t1 -c50 -d1s "https://127.0.0.1:$p/" >/dev/null 2>&1
done
for _ in $(seq "$R"); do
  for s in lt ngx; do
    p=$lt_port; [ $s = ngx ] && p=$ngx_port
    wrk -t1 -c50 -d"${DUR}s" "https://127.0.0.1:$p/" 2>/dev/null | awk '/Requests\/sec/ {print $2}' >>"$tmp/wrk.$s"
    openssl s_time -connect "127.0.0.1:$p" -new -time "$DUR" 2>/dev/null |
      awk '/connections in [0-9.]+s/ {for (i = 1; i <= NF; i++) if ($i == "connections") n = $(i-1); print n / '"$DUR"'; exit}' >>"$tmp/hs.$s"
  done
done
l=$(med <"$tmp/wrk.lt"); n=$(med <"$tmp/wrk.ngx"); hl=$(med <"$tmp/hs.lt"); hn=$(med <"$tmp/hs.ngx")
echo "== https hello, wrk -t1 -c50 -d${DUR}s, median of $R"
echo "$l $n" | awk '{printf "  luatest (Lua handler) %.0f req/s   nginx %.0f req/s   ratio %.2f\n", $1, $2, $1 / $2}'
echo "== full TLS handshakes per second (openssl s_time -new), median of $R"
echo "$hl $hn" | awk '{printf "  luatest %.0f/s   nginx %.0f/s   ratio %.2f\n", $1, $2, $1 / $2}'
