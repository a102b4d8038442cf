"""An aiohttp server for the TestClient to talk to: redirects and cookies.
Prints "listening PORT" once it serves. usage: python3 aiohttp_server.py"""
import asyncio
import socket
import sys

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


async def main():
    app = web.Application()
    app.router.add_get("/redirect/{n}", redirect)
    app.router.add_get("/set-cookie", set_cookie)
    app.router.add_get("/echo-cookies", echo_cookies)
    app.router.add_get("/scoped/echo", echo_cookies)
    app.router.add_route("*", "/method", method)
    app.router.add_post("/see-other", post_redirect)
    app.router.add_post("/temporary", temporary)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    print("listening", sock.getsockname()[1], flush=True)
    await asyncio.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 60)
    await runner.cleanup()


asyncio.run(main())
