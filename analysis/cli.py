"""``ch6jax``: reproduce the chapter, or run one experiment with your own settings.

Thin by design: parse, build a settings object, call the library, write the results folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from .chapter6 import EXPERIMENTS


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (no usage dump) and exits 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def _add_settings_arguments(parser, settings_cls) -> None:
    for field in dataclasses.fields(settings_cls):
        kind = _TYPES[field.type if isinstance(field.type, str) else field.type.__name__]
        parser.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, type=kind,
                            default=None, metavar=kind.__name__.upper(),
                            help=f"default {field.default!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ch6jax", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    rep = sub.add_parser("reproduce", help="run every experiment into a results folder")
    rep.add_argument("--out", default="results", help="results folder (default: results)")
    rep.add_argument("--only", nargs="+", metavar="NAME",
                     help=f"run only these experiments: {', '.join(EXPERIMENTS)}")
    rep.add_argument("--seed", type=int, default=0, help="the run's seed (default 0)")
    rep.add_argument("--quick", action="store_true", help="reduced sizes (under a minute)")
    rep.add_argument("--quiet", action="store_true", help="no progress output")

    sub.add_parser("list", help="list the experiments")

    for name, module in EXPERIMENTS.items():
        doc = (module.Settings.__doc__ or "").strip()
        p = sub.add_parser(name, help=module.TITLE, description=f"{module.TITLE}. {doc}")
        _add_settings_arguments(p, module.Settings)
        p.add_argument("--out", default=f"results-{name}", help="results folder")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--quick", action="store_true")
        p.add_argument("--quiet", action="store_true")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "list":
        for name, module in EXPERIMENTS.items():
            print(f"{name:15s} {', '.join(module.ITEMS):10s} {module.TITLE}")
        return 0
    from .reproduce import reproduce  # imports JAX: keep `--help` and `list` fast

    if args.command == "reproduce":
        names, overrides = args.only, None
    else:
        names = [args.command]
        overrides = {f.name: getattr(args, f.name)
                     for f in dataclasses.fields(EXPERIMENTS[args.command].Settings)
                     if getattr(args, f.name) is not None}
    try:
        folder = reproduce(args.out, names=names, seed=args.seed, quick_mode=args.quick,
                           progress=not args.quiet, overrides=overrides)
    except ValueError as err:
        print(f"ch6jax: error: {err}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"wrote {folder.out}/report.html, metrics.json, errata.md and "
              f"{len(list((folder.out / 'figures').glob('*.png')))} figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
