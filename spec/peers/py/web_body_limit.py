"""The aiohttp side of spec/peers/web_body_limit_spec.lua: client_max_size
is checked when a handler reads the body, not before the handler runs.
make_app(limit) serves /ignore (never reads), /read, /text, /json and
/post (each reads the body its own way)."""
from aiohttp import web


def make_app(limit=10):
    app = web.Application(client_max_size=limit)

    async def ignore(request):
        return web.Response(text="ignored")

    async def read(request):
        body = await request.read()
        return web.Response(text="read %d" % len(body))

    async def text(request):
        body = await request.text()
        return web.Response(text="text %d" % len(body))

    async def json(request):
        return web.json_response(await request.json())

    async def post(request):
        form = await request.post()
        return web.Response(text=",".join("%s=%s" % kv for kv in form.items()))

    app.router.add_post("/ignore", ignore)
    app.router.add_post("/read", read)
    app.router.add_post("/text", text)
    app.router.add_post("/json", json)
    app.router.add_post("/post", post)
    return app
