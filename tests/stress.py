"""`make test-stress`: the integration and chaos suites with two processes beside them
that each burn a core, on a 2-core machine the "some other load" of issue 30. A test
whose verdict depends on the machine's speed fails here first.

    python -m tests.stress [PYTEST ARGS]    (default: tests/integration tests/chaos)
"""

from __future__ import annotations

import subprocess
import sys

BURN = "while True: pass"
BURNERS = 2


def main() -> int:
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(BURNERS)]
    try:
        args = sys.argv[1:] or ["tests/integration", "tests/chaos"]
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rfE", "--durations=25", *args], check=False
        ).returncode
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


if __name__ == "__main__":
    sys.exit(main())
