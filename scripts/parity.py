#!/usr/bin/env python3
"""Prints the parity matrix (backend x suite: passed/failed/skipped) from meson's testlog.json,
and fails when a test passes on one backend and fails on another, unless the difference is
listed in tests/parity-exceptions.txt as a documented capability difference. Ends with the
plain closing line "tests: N passed, N failed, N skipped"."""
import collections
import json
import os
import sys

def main(paths):
    """The first log gives the parity matrix; every log counts in the closing line. A rerun log
    (FERRET_RERUN_LOG, written by scripts/test.sh after a sanitizer runtime crash) replaces the
    first log's results of the tests it ran."""
    results = []
    extra = []
    for i, path in enumerate(paths):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    (results if i == 0 else extra).append(json.loads(line))
    rerun_path = os.environ.get("FERRET_RERUN_LOG")
    if rerun_path and os.path.exists(rerun_path):
        with open(rerun_path) as f:
            rerun = {r["name"]: r for r in (json.loads(l) for l in f if l.strip())}
        for name, r in sorted(rerun.items()):
            print(f"rerun after a sanitizer runtime crash: {name}: {r['result']}")
        results = [rerun.get(r["name"], r) for r in results]
    counts = collections.Counter()
    matrix = collections.defaultdict(collections.Counter)
    by_test = collections.defaultdict(dict)
    def outcome_of(r):
        return {"OK": "passed", "EXPECTEDFAIL": "passed", "SKIP": "skipped"}.get(r["result"], "failed")
    for r in extra:
        counts[outcome_of(r)] += 1
    for r in results:
        outcome = outcome_of(r)
        counts[outcome] += 1
        # meson names a test "project:suite / name" in its log.
        head, _, name = r["name"].partition(" / ")
        suites = r.get("suite") or [head]
        for suite in suites:
            suite = suite.split(":")[-1]
            if "-" in suite:
                kind, backend = suite.rsplit("-", 1)
                matrix[(backend, kind)][outcome] += 1
                by_test[(kind, name or r["name"])][backend] = outcome
    backends = sorted({b for b, _ in matrix})
    kinds = sorted({k for _, k in matrix})
    if backends:
        print("\nParity matrix (passed/failed/skipped):\n")
        print("| backend | " + " | ".join(kinds) + " |")
        print("|---" * (len(kinds) + 1) + "|")
        for b in backends:
            cells = []
            for k in kinds:
                c = matrix.get((b, k))
                cells.append(f"{c['passed']}/{c['failed']}/{c['skipped']}" if c else "-")
            print(f"| {b} | " + " | ".join(cells) + " |")
    exceptions = set()
    exc_path = os.path.join(os.path.dirname(__file__), "..", "tests", "parity-exceptions.txt")
    if os.path.exists(exc_path):
        for line in open(exc_path):
            line = line.split("#", 1)[0].strip()
            if line:
                exceptions.add(line)
    differing = []
    for (kind, name), outcomes in sorted(by_test.items()):
        if len(set(outcomes.values()) - {"skipped"}) > 1 and f"{kind}/{name}" not in exceptions:
            differing.append(f"{kind}/{name}: " + ", ".join(f"{b}={o}" for b, o in sorted(outcomes.items())))
    if differing:
        print("\nResults that differ between backends (not documented capability differences):")
        for d in differing:
            print("  " + d)
    print(f"\ntests: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    return 1 if differing or counts["failed"] else 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
