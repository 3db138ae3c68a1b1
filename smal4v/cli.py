"""The ``smal4v`` command: every stage usable without Snakemake.

Each subcommand is one small function decorated with :func:`command`, which registers its
argparse setup; the function receives the parsed arguments, calls package functions and
returns an exit code. To add a subcommand, write another decorated function::

    @command("name", "one-line help", args=[arg("path"), arg("--flag", type=int, default=1)])
    def _name(a: argparse.Namespace) -> int:
        ...
        return 0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Handler = Callable[[argparse.Namespace], int]


@dataclass
class _Command:
    name: str
    help: str
    args: list[tuple[tuple[Any, ...], dict[str, Any]]]
    handler: Handler = field(repr=False)


_COMMANDS: dict[str, _Command] = {}


def arg(*names: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Arguments of ``ArgumentParser.add_argument``, for :func:`command`."""
    return names, kwargs


def command(name: str, help: str, args: Sequence[tuple[tuple[Any, ...], dict[str, Any]]] = ()) -> Callable[[Handler], Handler]:
    """Register a subcommand ``name`` with its arguments and handler."""
    def register(fn: Handler) -> Handler:
        if name in _COMMANDS:
            raise ValueError(f"subcommand {name!r} registered twice")
        _COMMANDS[name] = _Command(name, help, list(args), fn)
        return fn
    return register


def _load_yaml(path: str | None, subtree: str) -> dict[str, Any]:
    """A YAML mapping; if it has a top-level ``subtree`` key, that subtree is used."""
    if path is None:
        return {}
    import yaml

    p = Path(path)
    if not p.is_file():
        raise SystemExit(f"smal4v: config file {p} does not exist")
    data = yaml.safe_load(p.read_text()) or {}
    if not isinstance(data, dict):
        raise SystemExit(f"smal4v: config file {p} must hold a mapping")
    if isinstance(data.get(subtree), dict):
        data = data[subtree]
    return data


# ----------------------------------------------------------------------------- subcommands


@command("synth", "generate synthetic demo sequences (video, annotations, ground truth)", [
    arg("out_dir", help="output folder; sequences go to OUT_DIR/synthNNN"),
    arg("--n-sequences", type=int, default=1),
    arg("--seed", type=int, default=0),
    arg("--frames", type=int, default=None, help="frames per sequence (config n_frames)"),
    arg("--size", type=int, nargs=2, metavar=("W", "H"), default=None, help="image size (config image_size)"),
    arg("--config", default=None, help="YAML with synthetic config keys (or a 'synthetic:' subtree)"),
    arg("--generic", action="store_true", help="apply the generic-training-set overrides first"),
])
def _synth(a: argparse.Namespace) -> int:
    from smal4v.data.synthetic import GENERIC_TRAINING_CFG, generate_dataset

    cfg: dict[str, Any] = dict(GENERIC_TRAINING_CFG) if a.generic else {}
    cfg.update(_load_yaml(a.config, "synthetic"))
    if a.frames is not None:
        cfg["n_frames"] = a.frames
    if a.size is not None:
        cfg["image_size"] = list(a.size)
    for info in generate_dataset(a.out_dir, a.n_sequences, a.seed, cfg):
        print(f"{info.path}: {info.family} {info.gait} ({info.pattern}), {info.n_frames} frames, {info.seconds:.1f} s")
    return 0


@command("contact-sheet", "render the model's shape families in a few poses to a PNG", [
    arg("out_png"),
    arg("--model", default="procedural", help="model spec for load_model"),
    arg("--families", nargs="*", default=None, help="families (default: all of the model's)"),
    arg("--cell", type=int, default=160, help="cell size in pixels"),
])
def _contact_sheet(a: argparse.Namespace) -> int:
    from smal4v.evaluate.pictures import contact_sheet
    from smal4v.model import load_model

    print(contact_sheet(load_model(a.model), a.out_png, families=a.families, size=a.cell))
    return 0


@command("animalkey-sheet", "write a sequence sheet of every AnimalKey sequence (the 16 thesis test sequences as test)", [
    arg("sequences_dir", help="AnimalKey _sequences folder (seqNNN[_test]/ subfolders)"),
    arg("out_tsv"),
    arg("--generic", default="config/generic_sequences.tsv", help="sheet whose generic rows come first ('' for none)"),
    arg("--test", default=None, help="text file of test sequence numbers (default: the thesis's 16)"),
])
def _animalkey_sheet(a: argparse.Namespace) -> int:
    from smal4v.data.animalkey import write_animalkey_sheet

    print(write_animalkey_sheet(a.sequences_dir, a.out_tsv, a.generic or None, a.test))
    return 0


@command("overlay-gt", "write a GIF of a synthetic sequence with its ground truth overlaid", [
    arg("seq_dir"),
    arg("out_gif"),
    arg("--every", type=int, default=1, help="use every n-th frame"),
    arg("--max-side", type=int, default=256),
])
def _overlay_gt(a: argparse.Namespace) -> int:
    from smal4v.evaluate.pictures import overlay_gif

    print(overlay_gif(a.seq_dir, a.out_gif, every=a.every, max_side=a.max_side))
    return 0


# ----------------------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per registered subcommand."""
    from smal4v import __version__

    parser = argparse.ArgumentParser(prog="smal4v", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"smal4v {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for cmd in _COMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        for names, kwargs in cmd.args:
            p.add_argument(*names, **kwargs)
        p.set_defaults(handler=cmd.handler)
    from smal4v.segment.cli_densify import add_densify_command

    add_densify_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: sys.argv[1:]) and run the subcommand; returns the exit code.

    Expected user errors (bad files, bad config values) print one line and exit with 2.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"smal4v {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
