"""The ``dagstore`` console script: Ctrl-C from its first instant is one line, not a traceback.

It lives outside the ``dagstore`` package on purpose: importing any module inside the package
first imports the package itself (the storage core, pyarrow: most of the command's start-up
time), and that import must already run under the handler below, the same as
``dagstore.cli.app.main``'s own.
"""

import sys


def main() -> int:
    """Import and run the command line; Ctrl-C while importing exits as ``main``'s handler does."""
    try:
        from dagstore.cli import main as run

        return run()
    except KeyboardInterrupt:
        sys.stderr.write("dagstore: error: interrupted\n")  # dagstore.cli.app.main's line and code
        return 130
