#!/usr/bin/env bash
# Build and run the monitor with plain javac and java: no Maven, no Python at run time.
#   examples/java-monitor/run.sh RUNTIME_JAR DIR
# RUNTIME_JAR: pd2java-runtime-<version>.jar (from `pd2java java build -o dist`, or an export's
# --bundle lib/); DIR: what make_example.py wrote (DIR/models/<product>/, DIR/devices.csv).
set -euo pipefail
jar=$1
dir=$2
here=$(cd "$(dirname "$0")" && pwd)
classes=$(mktemp -d)
trap 'rm -rf "$classes"' EXIT
javac --release 17 -cp "$jar" -d "$classes" "$here/Monitor.java"
java --add-modules=jdk.incubator.vector -cp "$jar:$classes" Monitor "$dir" 2> >(grep -v "Using incubator modules" >&2)
