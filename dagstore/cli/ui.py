"""The web UI: ui (serve a store in the browser), ui-previews (the store's preview switch)."""

from __future__ import annotations

import click

from .. import config
from ..api.store import Store
from .app import Settings, cli, emit, pass_settings, verb


def _extra_missing() -> click.ClickException:
    return click.ClickException("the web UI needs its extra: pip install 'dagstore[ui]'")


@cli.command("ui")
@click.option("--store", "store_url", metavar="URL", help="store URL (same as the global --store)")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on (not loopback: needs --token)")
@click.option("--port", type=click.IntRange(1, 65535), default=8484, show_default=True)
@click.option("--open", "open_browser", is_flag=True, help="open the UI in the default browser")
@click.option("--read-only", is_flag=True, help="refuse every request that would change anything")
@click.option("--token", envvar="DAGSTORE_UI_TOKEN", metavar="TOKEN", help="required on every request (default: $DAGSTORE_UI_TOKEN)")
@click.option("--no-previews", is_flag=True, help="never show file contents (this server)")
@verb
@pass_settings
def ui(s: Settings, store_url: str | None, host: str, port: int, open_browser: bool, read_only: bool, token: str | None,
       no_previews: bool) -> None:
    """Browse and steer a store in the browser (datasets, versions, previews, exports, selections)."""
    try:
        from ..ui.server import serve
    except ImportError:
        raise _extra_missing() from None
    store = Store(store_url, storage_options=config.storage_options() or None, cache_dir=s.cache_dir) if store_url else s.store()
    serve(store, host=host, port=port, token=token or None, read_only=read_only, previews=not no_previews,
          open_browser=open_browser, announce=lambda line: click.echo(line, err=True))


@cli.command("ui-previews")
@click.argument("state", type=click.Choice(["on", "off"]))
@verb
@pass_settings
def ui_previews(s: Settings, state: str) -> None:
    """Turn file previews on or off for every UI opened on this store (sensitive data)."""
    try:
        from ..ui.context import set_store_previews
    except ImportError:
        raise _extra_missing() from None
    set_store_previews(s.store(), state == "on")
    emit(s, {"previews": state == "on"}, f"previews {state} for {s.store().url}")
