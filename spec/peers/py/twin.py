"""Serves the aiohttp application a side-by-side spec describes, so the spec
can send the same requests to it and to the luatest twin.
usage: python3 twin.py MODULE_PATH [SECONDS]
MODULE_PATH defines make_app() (a coroutine or a function) returning a
web.Application. Prints "listening PORT" once it serves; a line
"cleanup" is printed after the app's cleanup ran (for specs that check it)."""
import asyncio
import importlib.util
import socket
import sys

from aiohttp import web


async def main():
    spec = importlib.util.spec_from_file_location("twin_app", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = module.make_app()
    if asyncio.iscoroutine(app):
        app = await app
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    print("listening", sock.getsockname()[1], flush=True)
    await asyncio.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 120)
    await runner.cleanup()


asyncio.run(main())
