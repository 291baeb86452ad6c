"""Words a person reads, kept in a table: marked for the handheld's translation catalogues.

`N_` is gettext's marker for words that are translated where they are shown rather than where they
are written (pybabel extracts its argument; see `make messages`). It returns them unchanged.
"""

from __future__ import annotations


def N_(message: str) -> str:
    return message
