"""Make the checkout importable when pytest runs from an uninstalled tree.

Not needed once the project is installed or pytest is configured with ``pythonpath``.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
