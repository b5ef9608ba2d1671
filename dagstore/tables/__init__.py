"""Tables as data: the dialect of delimited text files (separator, decimal mark) and, in
time, tabular versions whose items are rows. Floor 2: imports only ``core`` and below."""

from .dialect import Dialect, sniff

__all__ = ["Dialect", "sniff"]
