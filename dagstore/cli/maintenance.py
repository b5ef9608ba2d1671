"""Store maintenance and configuration: gc, config."""

from __future__ import annotations

from dataclasses import asdict

import click

from .. import config
from ..secrets import redact, redact_url
from ..core.cache import Cache
from ..core.store import default_store_url
from .app import Settings, cli, emit, human_size, pass_settings, table, verb

# -- store maintenance and configuration ----------------------------------------------------------


@cli.command()
@click.option("--dry-run", is_flag=True, help="report what would be removed; remove nothing")
@click.option("--min-age", type=click.FloatRange(min=0), default=3600.0, show_default=True, metavar="SECONDS",
              help="keep unreferenced content younger than this (uploads in flight)")
@verb
@pass_settings
def gc(s: Settings, dry_run: bool, min_age: float) -> None:
    """Remove stored content that no version or draft references.

    Two phases keep concurrent uploads safe: unreferenced content older than --min-age is
    first marked, and removed by a later run if still unreferenced --min-age after marking
    (--min-age 0 does both at once; use it only when nothing else writes to the store).
    """
    report = s.store().gc(dry_run=dry_run, min_age_seconds=min_age)
    leftovers = 0 if dry_run else s.store().cache.reclaim_leftovers()  # crash leftovers in the local cache too
    verb_ = "would remove" if dry_run else "removed"
    marked = f"; {'would mark' if dry_run else 'marked'} {len(report.marked)} for a later run" if report.marked else ""
    cache = f"; removed {leftovers} crash leftovers from the local cache" if leftovers else ""
    held = f"; {verb_} {len(report.held)} files held in the local cache for drafts no longer in the store" if report.held else ""
    emit(s, {**asdict(report), "cache_leftovers": leftovers}, f"{verb_} {len(report.packs)} packs, {len(report.objects)} objects, "
                            f"{len(report.manifests)} manifests, {len(report.claims)} stale claims ({human_size(report.bytes)}){marked}{held}{cache}")


@cli.command("config")
@verb
@pass_settings
def config_(s: Settings) -> None:
    """Show the effective configuration (secrets redacted)."""
    cache = Cache(s.cache_dir)
    path = config.config_path()
    doc = {
        "store_url": redact_url(s.store_url or default_store_url()),
        "store_url_source": config.source("url", s.store_url),
        "cache_dir": str(cache.root),
        "cache_dir_source": config.source("cache_dir", s.cache_dir),
        "cache_max_size": cache.max_bytes,
        "cache_max_size_source": config.source("cache_max_size", None),
        "config_file": str(path),
        "config_file_exists": path.is_file(),
        "storage_options": redact(config.storage_options()),
    }
    opts = ", ".join(f"{k}={v}" for k, v in doc["storage_options"].items()) or "(none)"
    emit(s, doc, table(["SETTING", "VALUE", "FROM"], [
        ["store", doc["store_url"], doc["store_url_source"]],
        ["cache dir", doc["cache_dir"], doc["cache_dir_source"]],
        ["cache max size", human_size(cache.max_bytes), doc["cache_max_size_source"]],
        ["config file", str(path), "found" if doc["config_file_exists"] else "not found"],
        ["storage options", opts, "config file" if doc["storage_options"] else "-"],
    ]))
