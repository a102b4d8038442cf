"""The aiohttp side of spec/peers/web_app_spec.lua: nested sub-application
middlewares, Response defaults, HTTP exceptions as responses, signal order,
config_dict and WebSocketResponse fields."""
from aiohttp import web


def s(v):
    return "None" if v is None else str(v)


def tracer(name):
    @web.middleware
    async def mw(request, handler):
        request.setdefault("trace", []).append(f"in:{name}:{request.app['name']}")
        resp = await handler(request)
        resp.headers.add("X-Out", f"{name}:{request.app['name']}")
        resp.headers["X-Type"] = type(resp).__name__
        return resp

    return mw


@web.middleware
async def cloning(request, handler):
    if request.path != "/clone":
        return await handler(request)
    request["user"] = "kept"
    clone = request.clone(method="POST", rel_url="/elsewhere?x=1", headers={"X-A": "1"}, host="example.com")
    return await handler(clone)


async def clone_view(request):
    return web.Response(text="|".join([request.method, request.path, request.query.get("x"), request.headers["X-A"],
                                       request.host, request["user"], request.match_info.get("tail", "-"),
                                       str(request.remote is None or request.remote == "127.0.0.1").lower()]))


async def traced(request):
    return web.Response(text=",".join(request["trace"]) + f"|handler:{request.app['name']}")


async def defaults(request):
    rs = [web.Response(), web.Response(status=404), web.Response(body=b"x"),
          web.Response(text="x"), web.Response(text="x", content_type="application/json"),
          web.Response(status=599)]
    return web.Response(text="\n".join(f"{r.status}|{s(r.reason)}|{r.content_type}|{s(r.charset)}" for r in rs))


async def empty(request):
    return web.Response()


async def not_found_status(request):
    return web.Response(status=404)


async def bytes_body(request):
    return web.Response(body=b"raw")


async def found(request):
    e = web.HTTPFound("/elsewhere")
    e.set_cookie("s", "1")
    e.headers["X-Extra"] = "yes"
    raise e


async def not_found_body(request):
    raise web.HTTPNotFound(body=b"gone")


async def not_found_json(request):
    raise web.HTTPNotFound(text='{"error": "missing"}', content_type="application/json")


async def no_content(request):
    raise web.HTTPNoContent()


async def returned_exception(request):
    return web.HTTPConflict(text="conflict", headers={"X-Why": "because"})


async def exception_fields(request):
    es = [web.HTTPNotFound(), web.HTTPNotFound(body=b"x"), web.HTTPFound("/x"), web.HTTPNoContent()]
    return web.Response(text="\n".join(f"{e.status}|{e.reason}|{e.content_type}|{s(e.charset)}|{e.text}" for e in es))


async def events(request):
    return web.Response(text=",".join(request.app["events"]))


async def config(request):
    c = request.config_dict
    return web.Response(text=f"{c['name']}|{c['root_only']}|{c.get('missing')}")


async def ws_fields(request):
    ws = web.WebSocketResponse()
    before = f"{ws.status} {ws.reason}"
    await ws.prepare(request)
    await ws.send_str(before)
    await ws.close()
    return ws


async def cleanup_ctx(app):
    app["events"].append("ctx setup")
    yield
    app["events"].append("ctx cleanup")


async def on_startup(app):
    app["events"].append("startup")


def make_app():
    root = web.Application(middlewares=[tracer("root"), cloning])
    root["name"] = "root"
    root["root_only"] = "from root"
    root["events"] = []
    root.on_startup.append(on_startup)
    root.cleanup_ctx.append(cleanup_ctx)
    root.router.add_get("/traced", traced)
    root.router.add_get("/defaults", defaults)
    root.router.add_get("/empty", empty)
    root.router.add_get("/status404", not_found_status)
    root.router.add_get("/bytes", bytes_body)
    root.router.add_get("/found", found)
    root.router.add_get("/gone", not_found_body)
    root.router.add_get("/json404", not_found_json)
    root.router.add_get("/nocontent", no_content)
    root.router.add_get("/returned", returned_exception)
    root.router.add_get("/exception-fields", exception_fields)
    root.router.add_get("/events", events)
    root.router.add_get("/config", config)
    root.router.add_get("/ws", ws_fields)
    root.router.add_get("/clone", clone_view)
    sub1 = web.Application(middlewares=[tracer("sub1")])
    sub1["name"] = "sub1"
    sub2 = web.Application(middlewares=[tracer("sub2")])
    sub2["name"] = "sub2"
    sub2.router.add_get("/traced", traced)
    sub2.router.add_get("/config", config)
    sub1.router.add_get("/traced", traced)
    sub1.add_subapp("/sub2", sub2)
    root.add_subapp("/sub1", sub1)
    return root
