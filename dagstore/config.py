"""Effective configuration: environment variables first, then the config file, then defaults.

The config file is TOML at ``DAGSTORE_CONFIG`` or ``<user config dir>/dagstore/config.toml``::

    url = "s3://bucket/datasets"       # same as DAGSTORE_URL
    cache_dir = "/data/dagstore-cache" # same as DAGSTORE_CACHE_DIR
    cache_max_size = "200GB"           # same as DAGSTORE_CACHE_MAX_SIZE

    [storage_options]                  # passed to fsspec for the store URL
    endpoint_url = "http://127.0.0.1:9000"
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import platformdirs

from .errors import DagstoreError

KEYS = {"url": "DAGSTORE_URL", "cache_dir": "DAGSTORE_CACHE_DIR", "cache_max_size": "DAGSTORE_CACHE_MAX_SIZE",
        "debiai_config": "DAGSTORE_DEBIAI_CONFIG"}


def config_path() -> Path:
    return Path(os.environ.get("DAGSTORE_CONFIG") or Path(platformdirs.user_config_dir("dagstore")) / "config.toml")


def load_file() -> dict[str, Any]:
    """The parsed config file, or {} when there is none."""
    path = config_path()
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (ValueError, OSError) as exc:  # TOMLDecodeError and invalid UTF-8 are ValueErrors
        raise DagstoreError(f"cannot read config file {path}: {str(exc).splitlines()[0]}") from None


def setting(key: str) -> Any:
    """One setting (``url``, ``cache_dir``, ``cache_max_size``): env var, else config file, else None.
    A config-file value of the wrong type is a DagstoreError naming the key and the file."""
    env = KEYS.get(key)
    if env and os.environ.get(env):
        return os.environ[env]
    value = load_file().get(key)
    types = (str, int) if key == "cache_max_size" else (str,)
    if value is not None and (not isinstance(value, types) or isinstance(value, bool) or value == ""):
        kind = "a size such as '200GB'" if key == "cache_max_size" else "a non-empty text"
        raise DagstoreError(f"{key} = {value!r} in config file {config_path()} must be {kind}")
    return value


def source(key: str, given: str | None = None) -> str:
    """Where the effective value of setting ``key`` comes from: ``command line`` (when
    ``given``), ``env <VAR>``, ``config file`` or ``default``."""
    if given:
        return "command line"
    if os.environ.get(KEYS[key]):
        return f"env {KEYS[key]}"
    return "config file" if key in load_file() else "default"


def storage_options() -> dict[str, Any]:
    """fsspec storage options from the config file (credentials may also come from each backend's
    own standard mechanism, which needs no configuration here)."""
    opts = load_file().get("storage_options", {})
    if not isinstance(opts, dict):
        raise DagstoreError(f"storage_options in config file {config_path()} must be a table ([storage_options])")
    return dict(opts)
