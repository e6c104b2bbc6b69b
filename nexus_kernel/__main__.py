"""``python -m nexus_kernel install [--user|--sys-prefix|--prefix DIR]``."""

from __future__ import annotations

import argparse
import sys

from .kernelspec import DISPLAY_NAME, install


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nexus_kernel", description="Manage the NEXUS kernel spec."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    inst = sub.add_parser("install", help=f"install the '{DISPLAY_NAME}' kernel spec")
    where = inst.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="install for the current user")
    where.add_argument(
        "--sys-prefix", action="store_true", help="install into this Python environment (default)"
    )
    where.add_argument("--prefix", help="install under this prefix")
    args = parser.parse_args(argv)
    path = install(user=args.user, prefix=args.prefix)
    print(f"Installed the '{DISPLAY_NAME}' kernel spec in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
