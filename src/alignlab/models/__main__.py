"""``python -m alignlab.models``: what ``make models`` installs, and checking it.

- ``requirements [NAME ...]``: the pip requirements of the named models' parts,
  one per line (default: every optional model, i.e. what ``make models`` installs).
- ``verify [NAME ...]``: hash each model's installed parts in place (never
  importing their packages) and compare with the catalogue's size and
  SHA-256; exit status 1 with a one-line error on a mismatch or a missing part.

Neither command converts anything: the first load does that once.
"""

from __future__ import annotations

import argparse
import sys
import time

from alignlab._errors import AlignlabError
from alignlab.models._catalogue import NAMED_MODELS


def _names(requested: list[str]) -> list[str]:
    names = requested or [name for name, entry in NAMED_MODELS.items() if entry.optional]
    unknown = [name for name in names if name not in NAMED_MODELS]
    if unknown:
        raise AlignlabError(f"unknown named model '{unknown[0]}'; known: {', '.join(NAMED_MODELS)}")
    return names


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m alignlab.models", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for command in ("requirements", "verify"):
        sub = commands.add_parser(command)
        sub.add_argument(
            "names", nargs="*", metavar="NAME", help="named models (default: optional ones)"
        )
    args = parser.parse_args(argv)
    try:
        names = _names(args.names)
        if args.command == "requirements":
            for name in names:
                print("\n".join(NAMED_MODELS[name].requirements))
            return 0
        from alignlab.models._load import verify_named_model

        for name in names:
            start = time.perf_counter()
            digest, size = verify_named_model(name)
            seconds = time.perf_counter() - start
            print(f"{name}: OK, {size:,} bytes, SHA-256 {digest} ({seconds:.1f} s)")
    except AlignlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
