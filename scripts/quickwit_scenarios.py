#!/usr/bin/env python3
"""Quickwit's REST API scenarios against a fresh `hydrant serve`, counted step by step.

Usage: scripts/quickwit_scenarios.py QUICKWIT_REST_API_TESTS_DIR [PREFIX ...]

QUICKWIT_REST_API_TESTS_DIR is `quickwit/rest-api-tests` of a Quickwit checkout; PREFIX
selects scenario folders (`scenarii/es_compatibility`, ...), all of them by default. The
scenarios' own runner (`run_tests.py`) is imported for its step semantics (requests, expected
JSON, `$previous`, `$expect`); this script only walks the steps without stopping at the first
failure of a file, so that every step is counted, and prints each failing step with why.

Hydrant listens where the scenarios expect Quickwit (127.0.0.1:7280), on a temporary local
index, so its write API sets the indexes up as the scenarios' `_setup` files ask. Needs the
`requests` and `pyyaml` packages, and nothing else on port 7280. Not part of `scripts/test`:
the scenarios live in Quickwit's repository.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORT = 7280


def wait_for_port(process, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"hydrant serve exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", PORT), 1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"hydrant serve did not listen on {PORT} within {timeout}s")


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    tests_dir = os.path.abspath(sys.argv[1])
    prefixes = sys.argv[2:]
    sys.path.insert(0, tests_dir)
    import run_tests as quickwit  # noqa: E402 (the scenarios' runner, for its step semantics)

    # Steps of the scenarios themselves, and of their `_setup` and `_teardown` files.
    outcomes = {"passed": 0, "failed": [], "setup_passed": 0, "setup_failed": []}
    # Of the scenarios' steps, those that go through the Elasticsearch API.
    elastic = {"passed": 0, "total": 0}

    class CountingVisitor(quickwit.Visitor):
        def run_scenario(self, path, script):
            scenario = "/".join(path + [script])
            kind = "setup_" if script.startswith("_") else ""
            previous = {}
            for number, step in enumerate(quickwit.open_scenario(scenario), 1):
                step = quickwit.stack_dicts(self.context, step)
                engines = step.get("engines")
                if engines is not None and self.engine not in engines:
                    continue
                through_elastic = not kind and "_elastic" in (
                    str(step.get("api_root", "")) + str(step.get("endpoint", ""))
                )
                elastic["total"] += through_elastic
                try:
                    previous = quickwit.run_step(step, previous)
                    outcomes[kind + "passed"] += 1
                    elastic["passed"] += through_elastic
                except Exception as error:  # a failed expectation, a wrong status, ...
                    label = step.get("desc", f"step {number}")
                    reason = (str(error).splitlines() or [""])[0][:300]
                    outcomes[kind + "failed"].append((scenario, label, reason))
            return True

    work = tempfile.mkdtemp(prefix="hydrant-scenarios-")
    server = subprocess.Popen(
        ["cargo", "run", "-q", "-p", "hydrant", "--", "serve", "--index-uri",
         os.path.join(work, "index"), "--listen", f"127.0.0.1:{PORT}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    try:
        wait_for_port(server)
        os.chdir(tests_dir)
        scenarios = [
            os.path.join(dirpath, name)[2:]
            for dirpath, _, names in os.walk("./scenarii")
            for name in names
            if name.endswith(".yaml")
        ]
        if prefixes:
            scenarios = [s for s in scenarios if any(s.startswith(p) for p in prefixes)]
        quickwit.build_path_tree(scenarios).visit_nodes(CountingVisitor(engine="quickwit"))
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    for scenario, label, reason in outcomes["setup_failed"] + outcomes["failed"]:
        print(f"FAILED {scenario} ({label}): {reason}")
    total = outcomes["passed"] + len(outcomes["failed"])
    setup_total = outcomes["setup_passed"] + len(outcomes["setup_failed"])
    print(
        f"quickwit scenarios: {outcomes['passed']} of {total} steps passed, "
        f"{elastic['passed']} of the {elastic['total']} through /_elastic/ "
        f"({outcomes['setup_passed']} of {setup_total} setup and teardown steps)"
    )
    return 0 if not outcomes["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
