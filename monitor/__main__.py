"""The ``monitor`` executable and ``python -m monitor``.

It takes SIGINT and SIGTERM over before importing the command line (see :mod:`monitor.stopping`),
so that ``monitor run`` stopped while it loads exits 0 instead of dying by the signal.
"""

from __future__ import annotations

import logging
import sys

from monitor.stopping import StoppedDuringStartup, stop_during_startup

__all__ = ["main"]


def main() -> int:
    """Run the command line; 0 when stopped before ``monitor run``'s consumer loop started."""
    stop_during_startup()
    try:
        from monitor.cli import main as cli

        cli()  # click ends the process itself (SystemExit) on every other path
    except StoppedDuringStartup as stop:
        # Before the command configured logging, the last-resort handler prints this on stderr.
        logging.getLogger("monitor").warning("%s", stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
