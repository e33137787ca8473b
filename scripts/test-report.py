#!/usr/bin/env python3
"""The end of a test run, read from cargo-nextest's JUnit report.

    scripts/test-report.py JUNIT_XML [DOCTEST_LOG]

Prints, in this order:
  - the 15 slowest tests with their times (the suite's time budget);
  - the flaky list: tests that failed and then passed on a retry (the
    `ci` profile retries once). A retry must never hide a flake, so they
    are listed by name, with the failed attempt's first line;
  - the failed tests, by name;
  - one closing line, `summary: N passed, N failed`, counting the
    nextest tests and, when DOCTEST_LOG is given, the doctests that
    `cargo test --doc` ran (its `test result:` lines).

Exits 0; test.sh decides from nextest's own exit status whether the run
failed. Standard library only, so it runs wherever the tests do.
"""

import re
import sys
import xml.etree.ElementTree as ET

SLOWEST = 15


def first_line(element):
    """The first non-empty line of a failure's message or text."""
    text = element.get("message") or element.text or element.get("type") or ""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def doctest_counts(path):
    """(passed, failed) summed over libtest's `test result:` lines."""
    passed = failed = 0
    with open(path, encoding="utf-8", errors="replace") as log:
        for line in log:
            m = re.match(r"test result: \w+\. (\d+) passed; (\d+) failed", line)
            if m:
                passed += int(m.group(1))
                failed += int(m.group(2))
    return passed, failed


def main(argv):
    if len(argv) not in (2, 3):
        sys.exit(f"usage: {argv[0]} JUNIT_XML [DOCTEST_LOG]")
    try:
        root = ET.parse(argv[1]).getroot()
    except (OSError, ET.ParseError) as e:
        sys.exit(f"test-report: cannot read nextest's JUnit report {argv[1]}: {e}\n"
                 "  (did `cargo nextest run` get as far as running tests?)")

    times, flaky, failed = [], [], []
    passed = 0
    for case in root.iter("testcase"):
        name = f"{case.get('classname')} {case.get('name')}"
        times.append((float(case.get("time") or 0), name))
        final = case.find("failure")
        if final is None:
            final = case.find("error")
        if final is not None:
            failed.append((name, first_line(final)))
            continue
        passed += 1
        retried = case.findall("flakyFailure") + case.findall("flakyError")
        if retried:
            flaky.append((name, len(retried), first_line(retried[0])))

    times.sort(reverse=True)
    print(f"\nslowest {min(SLOWEST, len(times))} tests:")
    for seconds, name in times[:SLOWEST]:
        print(f"  {seconds:8.1f} s  {name}")

    if flaky:
        print(f"\nflaky: {len(flaky)} test(s) passed only on a retry; fix them today:")
        for name, tries, why in flaky:
            print(f"  FLAKY {name} (failed {tries} time(s) first: {why})")
    if failed:
        print(f"\nfailed: {len(failed)} test(s):")
        for name, why in failed:
            print(f"  FAIL {name}: {why}")

    failed_count = len(failed)
    if len(argv) == 3:
        doc_passed, doc_failed = doctest_counts(argv[2])
        passed += doc_passed
        failed_count += doc_failed
    flaky_note = f" ({len(flaky)} flaky)" if flaky else ""
    print(f"\nsummary: {passed} passed{flaky_note}, {failed_count} failed")


if __name__ == "__main__":
    main(sys.argv)
