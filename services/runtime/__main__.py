"""A node with only the runtime: admin, health, reflection, metrics, connectivity probes.

Groups whose service is not built yet run this, so the cluster's shape and its network
faults can be exercised before any replicated service exists.
"""

import sys

from services.runtime.server import main

sys.exit(main(prog="python -m services.runtime"))
