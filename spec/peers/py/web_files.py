"""The aiohttp side of spec/peers/web_files_spec.lua: spec/data/static
served by add_static and by FileResponse handlers."""
import pathlib

from aiohttp import web

STATIC = pathlib.Path(__file__).resolve().parents[2] / "data" / "static"


def make_app():
    app = web.Application()
    app.router.add_static("/static", STATIC)

    async def file(request):
        return web.FileResponse(STATIC / request.match_info["name"])

    async def typed(request):
        return web.FileResponse(STATIC / "hello.txt", headers={"Content-Type": "text/x-custom"})

    async def created(request):
        return web.FileResponse(STATIC / "blob.bin", status=201, reason="Made")

    app.router.add_get("/file/{name}", file)
    app.router.add_get("/typed", typed)
    app.router.add_get("/created", created)
    return app
