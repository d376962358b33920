"""``mcd config``: show a preset (with overrides) as YAML, or list every key."""

from __future__ import annotations

import yaml

from mcdlib.config import describe, load_config, preset_names, to_dict


def register(sub) -> None:
    p = sub.add_parser("config", help="print a preset's settings as YAML, or list every key",
                       description="Print the settings a run would use (preset + file + overrides).")
    p.add_argument("--preset", choices=preset_names(), default=None, help="preset (default: classroom)")
    p.add_argument("--file", default=None, help="a YAML config file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="dotted override, e.g. model.fusion=concat (repeatable)")
    p.add_argument("--keys", action="store_true", help="list every key with its default and meaning")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.keys:
        for key, default, text in describe():
            print(f"{key:32s} {default!r:24s} {text}")
        return 0
    cfg = load_config(args.file, preset=args.preset, overrides=args.overrides)
    print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")
    return 0
