"""Tables as data: the dialect of delimited text files (separator, decimal mark), statistics
(``describe``) and tabular versions whose items are rows (``rows``). Floor 2, below
``annotations`` (whose importers read tables): imports only ``core``, ``fs`` and below."""

from .dialect import Dialect, sniff

__all__ = ["Dialect", "sniff"]
