"""web_body_limit.py's app with client_max_size=0: no limit."""
import importlib.util
import os

_spec = importlib.util.spec_from_file_location(
    "web_body_limit", os.path.join(os.path.dirname(os.path.abspath(__file__)), "web_body_limit.py"))
_limit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_limit)


def make_app():
    return _limit.make_app(0)
