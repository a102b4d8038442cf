"""The aiohttp side of spec/peers/web_normalize_spec.lua: routes with and
without trailing slashes behind normalize_path_middleware, configured per
request by the X-Normalize header so one app shows every configuration."""
from aiohttp import web

CONFIGS = {
    "default": web.normalize_path_middleware(),
    "remove": web.normalize_path_middleware(append_slash=False, remove_slash=True),
    "nomerge": web.normalize_path_middleware(merge_slashes=False),
    "mergeonly": web.normalize_path_middleware(append_slash=False),
    "found": web.normalize_path_middleware(redirect_class=web.HTTPFound),
}


@web.middleware
async def pick(request, handler):
    return await CONFIGS[request.headers.get("X-Normalize", "default")](request, handler)


def make_app():
    app = web.Application(middlewares=[pick])

    def text(s):
        async def handler(request):
            return web.Response(text=s)

        return handler

    async def named(request):
        return web.Response(text="c " + request.match_info["name"])

    app.router.add_get("/", text("root"))
    app.router.add_get("/a/", text("a/"))
    app.router.add_get("/b", text("b"))
    app.router.add_get("/a/b", text("a/b"))
    app.router.add_get("/c/{name}/", named)
    app.router.add_post("/p/", text("p/"))
    app.router.add_get("/both", text("both"))
    app.router.add_get("/both/", text("both/"))
    app.router.add_get("/sp ace/", text("sp ace/"))
    return app
