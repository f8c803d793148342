"""Write a generated file, or (check) say whether the committed one is stale: shared by the scripts/gen_*.py."""

import os
import sys


def sync(root, rel, text, check, command):
    """Writes `text` to `rel` (below `root`), or with `check` returns 1 when the file differs from it."""
    path = os.path.join(root, rel)
    if check:
        try:
            with open(path) as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            print(f"{rel} is stale: run {command}", file=sys.stderr)
            return 1
        print(f"{rel} is up to date")
        return 0
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {rel}")
    return 0
