#!/usr/bin/env python3
"""The aiohttp twin of bench/ws_echo.lua: TestClient.ws_connect to a
TestServer in one process, N round trips of one text message.

usage: aiohttp_ws_echo.py [N] [plain|deflate] [BYTES]
"""
import asyncio
import json
import sys
import time

from aiohttp import web, WSMsgType
from aiohttp.test_utils import TestClient, TestServer


def payload(size):
    if size <= 16:
        return "0123456789abcdef"[:size]
    parts, i = [], 0
    while len("".join(parts)) < size:
        i += 1
        parts.append(json.dumps({"id": i, "name": "item %d" % (i * 7), "tags": ["a", "b"], "ok": True},
                                separators=(",", ":")) + ",")
    return "".join(parts)[:size]


async def echo(request):
    ws = web.WebSocketResponse()  # (compress=True by default)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            await ws.send_str(msg.data)
    return ws


async def main(n, mode, size):
    app = web.Application()
    app.router.add_get("/echo", echo)
    text = payload(size)
    async with TestClient(TestServer(app)) as client:
        ws = await client.ws_connect("/echo", compress=15 if mode == "deflate" else 0)
        assert bool(ws.compress) == (mode == "deflate")
        for _ in range(200):
            await ws.send_str(text)
            await ws.receive_str()
        t0 = time.perf_counter()
        for _ in range(n):
            await ws.send_str(text)
            assert await ws.receive_str() == text
        dt = time.perf_counter() - t0
        await ws.close()
    print("aiohttp ws_echo: %d round trips in %.3f s: %.0f msg/s (%s, %d bytes)" % (n, dt, n / dt, mode, len(text)))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000,
                     sys.argv[2] if len(sys.argv) > 2 else "plain",
                     int(sys.argv[3]) if len(sys.argv) > 3 else 16))
