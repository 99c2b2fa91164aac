"""``ch6jax``: reproduce the chapter, or run one experiment with your own settings.

Thin by design: parse, build a settings object, call the library, write the results folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
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
        choices = getattr(settings_cls, "CHOICES", {}).get(field.name)
        parser.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, type=kind,
                            default=None, choices=choices,
                            metavar=None if choices else kind.__name__.upper(),
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

    from .studies import STUDIES  # light: defines functions, runs nothing

    seeds = sub.add_parser("seeds", help="run a seed study over many seeds",
                           description="Run STUDY over --seeds seeds in chunks, saving each "
                                       "chunk as it finishes; --resume continues a stopped run.")
    seeds.add_argument("study", choices=list(STUDIES), help="which study")
    seeds.add_argument("--seeds", type=int, default=1000, help="number of seeds (default 1000)")
    seeds.add_argument("--chunk", type=int, default=1024,
                       help="seeds per compiled call (default 1024); results do not depend on it")
    seeds.add_argument("--block", type=int, default=32,
                       help="seeds per vmap inside a call (default 32; part of the study's "
                            "identity)")
    seeds.add_argument("--root-seed", type=int, default=0, help="seed i uses fold_in(root, i)")
    seeds.add_argument("--out", required=True, help="folder for chunks, manifest, table, figure")
    seeds.add_argument("--resume", action="store_true", help="continue the study in --out")
    seeds.add_argument("--devices", type=int, default=None,
                       help="use this many devices (on a CPU: host devices, one per core)")
    seeds.add_argument("--coordinator", metavar="HOST:PORT",
                       help="join a multi-process run (jax.distributed) at this address")
    seeds.add_argument("--num-processes", type=int, help="with --coordinator: process count")
    seeds.add_argument("--process-id", type=int, help="with --coordinator: this process's id")
    seeds.add_argument("--distributed", action="store_true",
                       help="join a multi-process run configured by the cluster (e.g. SLURM)")
    seeds.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                       help="study config, e.g. --set steps=3000 learning_rate=0.1")
    seeds.add_argument("--quiet", action="store_true", help="no progress bar")

    parts = set(HOPFIELD_PARTS.values())
    for name, module in EXPERIMENTS.items():
        if name in parts:          # reached as `ch6jax hopfield <part>`
            continue
        p = _experiment_parser(sub, name, module)
        if name == "hopfield":
            hop = p.add_subparsers(dest="part", parser_class=_Parser,
                                   title="parts (without one: the chapter's example)")
            for part, target in HOPFIELD_PARTS.items():
                _experiment_parser(hop, part, EXPERIMENTS[target], out=f"results-{target}")
    return parser


#: ``ch6jax hopfield <part>`` runs the experiment named here.
HOPFIELD_PARTS = {"recall": "hopfield_recall", "capacity": "hopfield_capacity",
                  "basins": "hopfield_basins"}


def _experiment_parser(sub, name, module, *, out=None):
    doc = (module.Settings.__doc__ or "").strip()
    p = sub.add_parser(name, help=module.TITLE, description=f"{module.TITLE}. {doc}")
    _add_settings_arguments(p, module.Settings)
    p.add_argument("--out", default=out or f"results-{name}", help="results folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "list":
        command = {target: f"hopfield {part}" for part, target in HOPFIELD_PARTS.items()}
        for name, module in EXPERIMENTS.items():
            print(f"{command.get(name, name):17s} {', '.join(module.ITEMS):10s} {module.TITLE}")
        return 0
    if args.command == "seeds":
        try:
            return _seeds(args)
        except ValueError as err:
            print(f"ch6jax: error: {err}", file=sys.stderr)
            return 2
    from .reproduce import reproduce  # imports JAX: keep `--help` and `list` fast

    if args.command == "reproduce":
        names, overrides = args.only, None
    else:
        name = HOPFIELD_PARTS.get(getattr(args, "part", None), args.command)
        names = [name]
        overrides = {f.name: getattr(args, f.name)
                     for f in dataclasses.fields(EXPERIMENTS[name].Settings)
                     if getattr(args, f.name, None) is not None}
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


def _parse_config(pairs, defaults: dict) -> dict:
    config = dict(defaults)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in defaults:
            raise ValueError(f"--set expects KEY=VALUE with KEY one of {sorted(defaults)}, "
                             f"got {pair!r}")
        kind = type(defaults[key])
        try:
            config[key] = kind(value)
        except ValueError:
            raise ValueError(f"--set {key} must be {kind.__name__}, got {value!r}") from None
    return config


def _seeds(args) -> int:
    import os

    if args.devices is not None:
        if args.devices < 1:
            raise ValueError(f"--devices must be at least 1, got {args.devices}")
        # JAX reads this once, at import: a CPU then shows one device per requested core.
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_force_host_platform_device_count" not in flags:
            os.environ["XLA_FLAGS"] = (
                f"{flags} --xla_force_host_platform_device_count={args.devices}").strip()
    import jax

    if args.coordinator or args.distributed:
        # CPU processes talk over gloo; on GPUs and TPUs JAX picks its own collectives.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        if args.coordinator:
            if args.num_processes is None or args.process_id is None:
                raise ValueError("--coordinator needs --num-processes and --process-id")
            jax.distributed.initialize(coordinator_address=args.coordinator,
                                       num_processes=args.num_processes,
                                       process_id=args.process_id)
        else:
            jax.distributed.initialize()  # reads SLURM's (or another cluster's) environment

    from . import seeds
    from ._io import atomic_write, npz_bytes
    from .chapter6 import seed_studies
    from .report import jsonable
    from .studies import STUDIES

    fn, defaults = STUDIES[args.study]
    config = _parse_config(args.set, defaults)
    devices = jax.local_devices()
    if args.devices is not None:
        if args.devices > len(devices):
            raise ValueError(f"--devices {args.devices} asked for, but only {len(devices)} "
                             f"are available")
        devices = devices[: args.devices]
    table = seeds.run_study(fn, args.seeds, config=config, chunk=args.chunk, block=args.block,
                            root_seed=args.root_seed, devices=devices, out=args.out,
                            resume=args.resume, progress=not args.quiet, name=args.study)
    from pathlib import Path

    if jax.process_index() != 0:  # every process holds the whole table; one writes it
        return 0
    out = Path(args.out)
    atomic_write(out / "table.npz", npz_bytes(table.to_numpy()))
    summary = seed_studies.summarise(args.study, table, config)
    atomic_write(out / "summary.json", json.dumps(jsonable(summary), indent=2))
    if not args.quiet:
        print(json.dumps(jsonable(summary), indent=2))
        n_chunks = len(list((out / "chunks").glob("*.npz")))
        print(f"wrote {out}/table.npz, summary.json, manifest.json and {n_chunks} chunk files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
