"""wixapp beyond its FastAPI backend: the same async core for any web framework.

- :mod:`wixapp.adapters.asgi`: a plain ASGI middleware (Starlette, Litestar, Quart, …);
- :mod:`wixapp.adapters.sync`: ``SyncWixApp``, the core driven from threads (WSGI code);
- :mod:`wixapp.adapters.flask`: the Flask extension (``pip install 'wixapp[flask]'``);
- :mod:`wixapp.adapters.django`: Django middleware and decorators (``'wixapp[django]'``).

Each module is imported on its own, so a Flask app never imports Django and the reverse.
"""
