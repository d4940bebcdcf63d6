"""`vcc --version` prints the installed version and exits 0."""

import subprocess
import sys
from importlib import metadata


def test_version():
    done = subprocess.run([sys.executable, "-m", "cluster.cli", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == f"vcc {metadata.version('vcc')}"
