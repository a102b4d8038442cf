"""An aiohttp server for the TestClient to talk to: redirects, cookies and
WebSockets. Prints "listening PORT" once it serves.
usage: python3 twin.py aiohttp_server.py [SECONDS] (twin.py serves make_app())"""
import asyncio
import json
import struct

from aiohttp import web


async def redirect(request):
    n = int(request.match_info["n"])
    if n == 0:
        return web.Response(text="arrived after redirects")
    raise web.HTTPFound(f"/redirect/{n - 1}")


async def set_cookie(request):
    resp = web.Response(text="cookie set")
    resp.set_cookie("srv", "from-aiohttp", path="/")
    resp.set_cookie("scoped", "only-here", path="/scoped")
    return resp


async def echo_cookies(request):
    return web.json_response(dict(request.cookies))


async def method(request):
    return web.Response(text=f"{request.method} body={await request.text()}")


async def post_redirect(request):
    raise web.HTTPSeeOther("/method")


async def temporary(request):
    raise web.HTTPTemporaryRedirect("/method")


# ---- WebSockets ----------------------------------------------------------------

# How each WebSocket with an ?id= ended, for GET /ws/closed/{id}.
closes = {}
close_events = {}


def close_event(ws_id):
    if ws_id not in close_events:
        close_events[ws_id] = asyncio.Event()
    return close_events[ws_id]


async def ws_echo(request):
    """Echoes text as "echo: TEXT", binary as is, a JSON object as {"got": it}.
    "close CODE REASON" makes the server close with that code and reason. The
    close frame that ended the connection and the final close code are kept
    under ?id=."""
    ws = web.WebSocketResponse(protocols=("chat.v2", "chat.v1"))
    await ws.prepare(request)
    record = {"protocol": ws.ws_protocol, "messages": 0}
    while True:
        msg = await ws.receive()
        if msg.type == web.WSMsgType.TEXT:
            record["messages"] += 1
            if msg.data.startswith("close "):
                _, code, reason = msg.data.split(" ", 2)
                await ws.close(code=int(code), message=reason.encode())
                break
            if msg.data.startswith("{"):
                await ws.send_json({"got": json.loads(msg.data)})
            else:
                await ws.send_str("echo: " + msg.data)
        elif msg.type == web.WSMsgType.BINARY:
            record["messages"] += 1
            await ws.send_bytes(msg.data)
        elif msg.type == web.WSMsgType.CLOSE:
            record["peer_code"], record["peer_reason"] = msg.data, msg.extra
            break
        else:
            record["other"] = str(msg.type)
            break
    record["close_code"] = ws.close_code
    ws_id = request.query.get("id")
    if ws_id:
        closes[ws_id] = record
        close_event(ws_id).set()
    return ws


async def ws_closed(request):
    ws_id = request.match_info["id"]
    try:
        await asyncio.wait_for(close_event(ws_id).wait(), 5)
    except asyncio.TimeoutError:
        raise web.HTTPNotFound(text=f"no WebSocket {ws_id} ended")
    return web.json_response(closes[ws_id])


async def ws_protocol(request):
    """Sends the subprotocol it chose, or "none"."""
    ws = web.WebSocketResponse(protocols=("chat.v2", "chat.v1"))
    await ws.prepare(request)
    await ws.send_str(ws.ws_protocol or "none")
    await ws.receive()
    return ws


async def ws_pings(request):
    """Autoping off: reports each ping's payload as text, then answers it."""
    ws = web.WebSocketResponse(autoping=False)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == web.WSMsgType.PING:
            await ws.send_str("ping: " + msg.data.decode())
            await ws.pong(msg.data)
        elif msg.type == web.WSMsgType.TEXT:
            await ws.send_str("echo: " + msg.data)
    return ws


def frame(opcode, payload, fin=True):
    """One unmasked server frame; aiohttp's writer always sets FIN."""
    head = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", head, n) + payload
    if n < 1 << 16:
        return struct.pack("!BBH", head, 126, n) + payload
    return struct.pack("!BBQ", head, 127, n) + payload


async def ws_fragments(request):
    """On "go": the text "fragmented réply" in three frames (the two bytes of
    "é" split between two) with a ping between two of them, a binary message in
    two frames, then "after" as one frame. Autoping off: the pong that
    answers the ping is reported as "pong: PAYLOAD"."""
    ws = web.WebSocketResponse(autoping=False)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == web.WSMsgType.PONG:
            await ws.send_str("pong: " + msg.data.decode())
        elif msg.type == web.WSMsgType.TEXT and msg.data == "go":
            ws._writer.transport.write(
                frame(0x1, b"frag", fin=False)
                + frame(0x0, b"mented r\xc3", fin=False)
                + frame(0x9, b"in between")
                + frame(0x0, b"\xa9ply")
                + frame(0x2, bytes([0, 1, 2]), fin=False)
                + frame(0x0, bytes([253, 254, 255]))
            )
            await ws.send_str("after")
        elif msg.type == web.WSMsgType.TEXT:
            await ws.send_str("echo: " + msg.data)
    return ws


async def ws_big(request):
    """Each binary message is answered with its length, then echoed."""
    ws = web.WebSocketResponse(max_msg_size=4 << 20)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == web.WSMsgType.BINARY:
            await ws.send_str(f"{len(msg.data)} bytes")
            await ws.send_bytes(msg.data)
    return ws


async def ws_cookies(request):
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    await ws.send_json(dict(request.cookies))
    await ws.receive()
    return ws


def make_app():
    app = web.Application()
    app.router.add_get("/redirect/{n}", redirect)
    app.router.add_get("/set-cookie", set_cookie)
    app.router.add_get("/echo-cookies", echo_cookies)
    app.router.add_get("/scoped/echo", echo_cookies)
    app.router.add_route("*", "/method", method)
    app.router.add_post("/see-other", post_redirect)
    app.router.add_post("/temporary", temporary)
    app.router.add_get("/ws/echo", ws_echo)
    app.router.add_get("/ws/closed/{id}", ws_closed)
    app.router.add_get("/ws/protocol", ws_protocol)
    app.router.add_get("/ws/pings", ws_pings)
    app.router.add_get("/ws/fragments", ws_fragments)
    app.router.add_get("/ws/big", ws_big)
    app.router.add_get("/ws/cookies", ws_cookies)
    app.router.add_get("/scoped/ws-cookies", ws_cookies)
    return app
