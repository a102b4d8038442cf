"""Drives a luatest server with Python's aiohttp client and prints what it
saw as JSON: for each request, status, reason, selected headers, body and
cookies. usage: python3 aiohttp_client.py BASE_URL"""
import asyncio
import json
import sys

import aiohttp


async def main(base):
    out = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        requests = [
            ("GET", "/hello/python", {}),
            ("POST", "/form", {"data": {"value": "from aiohttp", "other": "x y"}}),
            ("POST", "/json", {"json": {"n": 21, "list": [1, 2]}}),
            ("GET", "/cookie", {}),
            ("GET", "/whoami", {}),
            ("GET", "/missing", {}),
            ("DELETE", "/hello/python", {}),
        ]
        for method, path, kwargs in requests:
            async with session.request(method, base + path, **kwargs) as resp:
                body = await resp.text()
                out.append({
                    "status": resp.status,
                    "reason": resp.reason,
                    "content_type": resp.headers.get("Content-Type"),
                    "allow": resp.headers.get("Allow"),
                    "x_custom": resp.headers.get("X-Custom"),
                    "body": body,
                    "cookies": {k: v.value for k, v in resp.cookies.items()},
                })
    print(json.dumps(out))


asyncio.run(main(sys.argv[1]))
