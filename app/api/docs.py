"""The OpenAPI pages, whole without internet: Redoc (``/schema``, ``/schema/redoc``) and Swagger UI
(``/schema/swagger``) load their scripts from the app itself, from the files the drf-spectacular-sidecar package
ships, never from a CDN; ``/schema/openapi.json`` and ``/schema/openapi.yaml`` are the document.

A Content-Security-Policy keeps the pages to the app's own origin: nothing a UI would fetch elsewhere (Redoc's
footer logo) leaves the browser. Scripts and styles inline, since both UIs are started by an inline script."""

from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path

from litestar import Router
from litestar.datastructures import ResponseHeader
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, RedocRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router

PATH, ASSETS = "/schema", "/assets"
_SWAGGER, _REDOC = f"{PATH}{ASSETS}/swagger-ui-dist", f"{PATH}{ASSETS}/redoc/bundles"
_FAVICON = f"<link rel='icon' type='image/png' href='{_SWAGGER}/favicon-32x32.png'>"
POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
          "img-src 'self' data:; worker-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def assets_directory() -> Path:
    # Found, not imported: the package's __init__ imports Django, which it declares but these files never need.
    spec = find_spec("drf_spectacular_sidecar")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("drf-spectacular-sidecar is not installed: the OpenAPI pages have no scripts")
    return Path(spec.submodule_search_locations[0]) / "static" / "drf_spectacular_sidecar"


def openapi_config() -> OpenAPIConfig:
    assets = create_static_files_router(path=ASSETS, directories=[assets_directory()], name="openapi-assets")
    return OpenAPIConfig(
        title="Flowplane",
        version=version("flowplane"),
        path=PATH,
        components=Components(security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}),
        openapi_router=Router(PATH, route_handlers=[assets], include_in_schema=False,
                              response_headers=[ResponseHeader(name="Content-Security-Policy", value=POLICY)]),
        render_plugins=[
            RedocRenderPlugin(path=["/", "/redoc"], js_url=f"{_REDOC}/redoc.standalone.js", google_fonts=False,
                              favicon=_FAVICON),
            SwaggerRenderPlugin(path="/swagger", js_url=f"{_SWAGGER}/swagger-ui-bundle.js",
                                css_url=f"{_SWAGGER}/swagger-ui.css",
                                standalone_preset_js_url=f"{_SWAGGER}/swagger-ui-standalone-preset.js",
                                favicon=_FAVICON),
            JsonRenderPlugin(),
            YamlRenderPlugin(),
        ],
    )
