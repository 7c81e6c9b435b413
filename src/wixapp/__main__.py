"""``python -m wixapp``: the same command line as ``wixapp``."""

from wixapp.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
