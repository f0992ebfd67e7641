"""``python -m pytest_dockerlab``: the ``dockerlab`` command (:mod:`.cli`)."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
