import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # spawned workers inherit sys.path, so they import sweep_test_trials too
    sys.path.insert(0, str(HERE))
