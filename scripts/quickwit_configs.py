#!/usr/bin/env python3
"""Loads every index config Quickwit ships into Hydrant, and says which are refused and why.

Usage: scripts/quickwit_configs.py QUICKWIT_CHECKOUT [HYDRANT_BINARY]

Reads, from a Quickwit checkout: `config/tutorials/**` and `config/templates/*` (index configs
and templates), `quickwit/quickwit-config/resources/tests/index_config/*` (its fixtures, in
YAML, JSON and TOML), and the YAML and JSON blocks of `docs/**/*.md` that hold an index config
or a template. Each is created with `hydrant index create` (or `hydrant template create`) in a
temporary local index storage. Prints one line per config and a summary; a refusal shows
Hydrant's message, which should name the problem. Not part of `scripts/test`: the configs live
in Quickwit's repository. HYDRANT_BINARY defaults to target/debug/hydrant.
"""

import glob
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INDEX_KEYS = re.compile(r'^\s*"?(index_id|template_id)"?\s*[:=]', re.M)


def configs(checkout, work):
    """(name, path) of every config file, docs blocks written out to `work`."""
    found = []
    for pattern in [
        "config/tutorials/**/*.yaml",
        "config/templates/*.yaml",
        "quickwit/quickwit-config/resources/tests/index_config/*",
    ]:
        for path in sorted(glob.glob(os.path.join(checkout, pattern), recursive=True)):
            with open(path, encoding="utf-8") as file:
                text = file.read()
            if INDEX_KEYS.search(text) or "doc_mapping" in text:
                found.append((os.path.relpath(path, checkout), path))
    for path in sorted(glob.glob(os.path.join(checkout, "docs/**/*.md"), recursive=True)):
        with open(path, encoding="utf-8") as file:
            text = file.read()
        for number, block in enumerate(re.finditer(r"```(yaml|yml|json)\n(.*?)```", text, re.S), 1):
            body = block.group(2)
            if INDEX_KEYS.search(body) and "doc_mapping" in body:
                name = f"{os.path.relpath(path, checkout)}#{number}"
                extension = "json" if block.group(1) == "json" else "yaml"
                out = os.path.join(work, f"docs-{len(found)}.{extension}")
                with open(out, "w", encoding="utf-8") as file:
                    file.write(body)
                found.append((name, out))
    return found


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    checkout = os.path.abspath(sys.argv[1])
    binary = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "target/debug/hydrant")
    accepted, refused = 0, []
    with tempfile.TemporaryDirectory(prefix="hydrant-quickwit-configs-") as work:
        for number, (name, path) in enumerate(configs(checkout, work)):
            with open(path, encoding="utf-8") as file:
                is_template = re.search(r'^\s*"?template_id"?\s*[:=]', file.read(), re.M)
            command, flag = ("template", "--template-config") if is_template else ("index", "--index-config")
            result = subprocess.run(
                [binary, command, "create", "--index-uri", os.path.join(work, f"index-{number}"), flag, path],
                capture_output=True,
                text=True,
                env={**os.environ, "RUST_BACKTRACE": "0"},
            )
            if result.returncode == 0:
                accepted += 1
                print(f"ok       {name} ({command})")
            else:
                message = (result.stderr.strip().splitlines() or ["?"])[0]
                refused.append(name)
                print(f"refused  {name}: {message}")
    total = accepted + len(refused)
    print(f"quickwit configs: {accepted} of {total} accepted, {len(refused)} refused")


if __name__ == "__main__":
    main()
