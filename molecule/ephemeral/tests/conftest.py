import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared" / "lib"))

from ujh_testlib import *  # noqa: E402,F401,F403  (fixtures shared by scenarios)
