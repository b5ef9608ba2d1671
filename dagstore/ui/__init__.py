"""``dagstore ui``: a local web app over any store (install ``dagstore[ui]``).

``create_app(store)`` is the ASGI application ``dagstore ui`` serves; mount it in your own
ASGI server if you like. It sits on top of the public API (like the CLI): nothing in dagstore
imports it. Pages, JSON routes, Label Studio's export API and security: docs/ui.md.
"""

from .app import create_app

__all__ = ["create_app"]
