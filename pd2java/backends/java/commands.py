"""CLI verb ``pd2java java``: build the Java runtime, run its JUnit tests, check a manifest.

- ``pd2java java build``: build (or reuse from the cache) the runtime jar and the py4j gateway
  jar, and print their paths; with ``-o DIR``, write the runtime jar, its sources jar and a
  ``pom.xml`` into DIR, named by version;
- ``pd2java java test``: compile and run the JUnit 5 tests through the console launcher, once in
  a JVM with the Vector API kernels and once in one without;
- ``pd2java java check MANIFEST``: load a manifest in the Java runtime (all validation and the
  golden self-test) and print a summary.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from pd2java.errors import UserError


def _build(args: argparse.Namespace) -> int:
    from pd2java.backends.java.build import build_gateway, build_runtime, write_artifacts

    if args.output:
        for path in write_artifacts(args.output):
            print(f"wrote {path} ({path.stat().st_size} bytes)")
        return 0
    runtime = build_runtime()
    print(f"runtime jar: {runtime} ({runtime.stat().st_size} bytes)")
    if not args.runtime_only:
        gateway = build_gateway()
        print(f"gateway jar: {gateway} ({gateway.stat().st_size} bytes)")
    return 0


def _test(args: argparse.Namespace) -> int:
    from pd2java.backends.java.build import run_junit

    failed = []
    for vector in (True, False):
        family = "Vector API" if vector else "scalar"
        ok, output = run_junit(vector)
        print(f"== JUnit on the {family} kernels ==\n{output}")
        if not ok:
            failed.append(family)
    if failed:
        raise UserError(
            f"JUnit tests failed on the {' and '.join(failed)} kernels (see the output above)"
        )
    return 0


def check_manifest(manifest: str, *, self_test: bool = True) -> str:
    """Load ``manifest`` in the Java runtime; return its summary or raise UserError."""
    from pd2java.backends.java.build import _tool, build_runtime

    cmd = [_tool("java"), "-jar", str(build_runtime()), "check", manifest]
    if not self_test:
        cmd.append("--no-self-test")
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise UserError(f"the Java runtime refused {manifest}: {proc.stderr.strip()}")
    return proc.stdout


def _check(args: argparse.Namespace) -> int:
    print(check_manifest(args.manifest, self_test=not args.no_self_test), end="")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``java build``, ``java test`` and ``java check``."""
    p = subparsers.add_parser(
        "java",
        help="build and test the Java runtime",
        description="Build the zero-dependency Java runtime with javac/jar (cached), run its "
        "JUnit tests, or load a manifest in it.",
    )
    sub = p.add_subparsers(dest="java_command", metavar="<java command>")
    b = sub.add_parser("build", help="build the runtime and gateway jars; print their paths")
    b.add_argument("--runtime-only", action="store_true", help="skip the py4j gateway jar")
    b.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        help="write the runtime as a deliverable into DIR: pd2java-runtime-<version>.jar, "
        "its -sources.jar and a pom.xml (org.pd2java:pd2java-runtime:<version>)",
    )
    b.set_defaults(func=_build)
    t = sub.add_parser("test", help="run the runtime's JUnit 5 tests")
    t.set_defaults(func=_test)
    c = sub.add_parser("check", help="load, validate and self-test a manifest in Java")
    c.add_argument("manifest", help="path of a *.manifest.json")
    c.add_argument("--no-self-test", action="store_true", help="skip the golden self-test")
    c.set_defaults(func=_check)

    def _usage(_: argparse.Namespace) -> int:
        p.print_help(sys.stderr)
        return 1

    p.set_defaults(func=_usage)
