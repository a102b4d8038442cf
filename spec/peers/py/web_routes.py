"""The aiohttp side of spec/peers/web_routes_spec.lua: route definitions
(RouteTableDef, web.get/web.post... with add_routes), a class-based view,
regex routes and HEAD on GET routes."""
from aiohttp import web

routes = web.RouteTableDef()


@routes.get(r"/items/{id:\d+}", name="item")
async def item(request):
    return web.Response(text="item " + request.match_info["id"])


@routes.post("/items")
async def create(request):
    return web.Response(text="created " + await request.text(), status=201)


@routes.put("/items/{id}")
async def put_item(request):
    return web.Response(text="put " + request.match_info["id"])


@routes.patch("/items/{id}")
async def patch_item(request):
    return web.Response(text="patch " + request.match_info["id"])


@routes.delete("/items/{id}")
async def delete_item(request):
    return web.Response(status=204)


@routes.route("PROPFIND", "/dav")
async def propfind(request):
    return web.Response(text="propfind")


@routes.get("/url")
async def url(request):
    return web.Response(text=str(request.app.router["item"].url_for(id="5")))


class ItemView(web.View):
    async def get(self):
        return web.Response(text="view " + self.request.method)

    async def post(self):
        return web.Response(text="view post " + await self.request.text(), status=201)


routes.view("/view")(ItemView)


async def hello(request):
    return web.Response(text="hello")


async def method(request):
    return web.Response(text=request.method)


async def hello_c(request):
    # the answer of examples/c_handler/hello_c.c's hello
    return web.Response(text="Hello, " + request.match_info["name"])


def param(name):
    async def handler(request):
        return web.Response(text=name + "=" + request.match_info[name])

    return handler


def make_app():
    app = web.Application()
    app.add_routes(routes)
    app.router.add_routes(
        [
            web.get("/hello", hello),
            web.get("/nohead", hello, allow_head=False),
            web.post("/hello", method),
            web.head("/only-head", method),
            web.options("/opt", method),
            web.route("*", "/any", method),
            web.view("/view2", ItemView),
            web.get("/c/{name:[a-z]+}", hello_c),
            web.get("/ab/{k:(?:a|b)+}", param("k")),
            web.get(r"/y/{y:\d{2}}", param("y")),
            web.get("/p/{id:%d+}", param("id")),
            web.get(r"/f/{name:[\w\-]+\.txt}", param("name")),
            web.get("/n/{name}", param("name")),
        ]
    )
    app.router.add_view("/view3", ItemView)
    app.router.add_route("*", "/view4", ItemView)
    return app
