"""DebiAI's own export-method configuration, read beside dagstore's so its users keep it.

- ``config.ini`` (its path in dagstore's config as ``debiai_config = "…"`` or in
  ``DAGSTORE_DEBIAI_CONFIG``): ``[EXPORT_METHODS_CONFIG]`` ``creation`` / ``deletion`` and
  ``[EXPORT_METHODS_LIST]`` ``name = post, <url>`` / ``name = kafka, <broker>, <topic>``;
- ``DEBIAI_EXPORT_METHOD_<name>`` variables and ``DEBIAI_EXPORT_METHODS_CREATION_ENABLED`` /
  ``…_DELETION_ENABLED``, where, as in DebiAI, only ``false`` (any case) disables.

Each sits just under dagstore's own counterpart: the config file wins over ``config.ini``,
``DAGSTORE_…`` variables over ``DEBIAI_…`` ones. Names are kept whole and in their case
(DebiAI's documentation writes ``DEBIAI_EXPORT_METHOD_my_post_export_method1``).
"""

from __future__ import annotations

import configparser
import os

from .. import config
from ..core.store.definitions import Layer
from .errors import ExportMethodError

ENV_METHOD = "DEBIAI_EXPORT_METHOD_"
ENV_SWITCH = {"creation": "DEBIAI_EXPORT_METHODS_CREATION_ENABLED", "deletion": "DEBIAI_EXPORT_METHODS_DELETION_ENABLED"}
_SECTION, _LIST = "EXPORT_METHODS_CONFIG", "EXPORT_METHODS_LIST"


def ini_path() -> str | None:
    value = config.setting("debiai_config")
    return os.path.expanduser(str(value)) if value else None


def read_ini() -> configparser.ConfigParser | None:
    """The DebiAI config.ini named by dagstore's config, or None when none is named."""
    path = ini_path()
    if path is None:
        return None
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]  # names keep their case
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except FileNotFoundError:
        raise ExportMethodError(f"DebiAI config file {path} (debiai_config / DAGSTORE_DEBIAI_CONFIG) not found") from None
    except (configparser.Error, OSError, UnicodeDecodeError) as exc:
        raise ExportMethodError(f"cannot read DebiAI config file {path}: {' '.join(str(exc).split())}") from None
    return parser


def ini_methods() -> dict[str, str]:
    parser = read_ini()
    return dict(parser[_LIST]) if parser is not None and parser.has_section(_LIST) else {}


def env_methods() -> dict[str, str]:
    n = len(ENV_METHOD)
    return {var[n:]: value for var, value in sorted(os.environ.items()) if var.startswith(ENV_METHOD) and len(var) > n}


def switch(key: str) -> tuple[bool, str] | None:
    """DebiAI's ``creation`` / ``deletion`` switch and where it was set: its variable (only
    ``false`` disables), else its config.ini (``true`` / ``false``), else None."""
    var = ENV_SWITCH[key]
    if os.environ.get(var, "").strip():
        return os.environ[var].strip().lower() != "false", f"environment variable {var}"
    parser = read_ini()
    if parser is None or not parser.has_option(_SECTION, key):
        return None
    value = parser.get(_SECTION, key).strip().lower()
    if value not in ("true", "false"):
        raise ExportMethodError(f"DebiAI config file {ini_path()}: [{_SECTION}] {key} must be true or false, not {value!r}")
    return value == "true", f"DebiAI config file {ini_path()} [{_SECTION}] {key}"


LAYERS = (
    Layer("debiai-config", ini_methods, lambda name: f"DebiAI config file {ini_path()} [{_LIST}] {name}", before="config"),
    Layer("debiai-env", env_methods, lambda name: f"environment variable {ENV_METHOD}{name}", before="env"),
)
