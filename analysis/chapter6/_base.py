"""What every experiment returns, and how its settings are declared.

An experiment module defines ``NAME``, ``TITLE``, ``ITEMS`` (the chapter ids it covers), a frozen
``Settings`` dataclass whose defaults are the chapter's settings (and whose ``QUICK`` dict holds
the reduced sizes of ``--quick``), and ``run(settings, key) -> Result``. The CLI builds each
experiment's subcommand from its ``Settings`` fields, so adding an experiment adds a command.
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from pathlib import Path
from typing import Any, NamedTuple


class Erratum(NamedTuple):
    """A chapter number that the exact computation contradicts."""

    item: str    # chapter id and place, e.g. "C3, Table 6.1"
    claim: str   # what the chapter says
    exact: str   # what the computation gives
    reason: str  # why they differ


class Result(NamedTuple):
    """``numbers``: a nested dict merged into ``metrics.json``; ``figures``: name -> Figure;
    ``errata``: list of :class:`Erratum`; ``summary``: one or two sentences for the report."""

    numbers: dict[str, Any]
    figures: dict[str, Any]
    errata: list[Erratum]
    summary: str = ""


def check_settings(settings) -> None:
    """Raise ``ValueError`` naming the field for a non-positive count or rate.

    Fields named in ``settings.POSITIVE`` must be > 0; ints must be ints. Fields named in
    ``settings.CHOICES`` (a dict field -> allowed values) must take one of their values.
    """
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        choices = getattr(settings, "CHOICES", {}).get(field.name)
        if choices is not None and value not in choices:
            raise ValueError(f"{field.name} must be one of {', '.join(map(str, choices))}, "
                             f"got {value!r}")
        if field.name in getattr(settings, "POSITIVE", ()):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{field.name} must be positive, got {value!r}")


def quick(settings_cls):
    """The ``--quick`` settings of an experiment: its defaults with ``QUICK`` applied."""
    return settings_cls(**getattr(settings_cls, "QUICK", {}))


def study_dir(workdir, name: str, root: int, config: dict) -> Path | None:
    """Where a seed study of an experiment keeps its chunks inside the results folder's work
    directory: named by the study, the root seed and a checksum of the config, so a rerun with
    the same settings resumes and one with other settings (``--quick``, say) starts afresh
    instead of being refused."""
    if workdir is None:
        return None
    digest = zlib.crc32(json.dumps(config, sort_keys=True).encode()) & 0xFFFFFFFF
    return Path(workdir) / f"{name}-root{root}-{digest:08x}"
