#!/usr/bin/env bash
# `make image-deps`: what each Dockerfile target installs, repeated in an empty venv outside
# the tree: the service's lock (--require-hashes --no-deps) and `pip check` on it, then the
# service's own packages (--no-deps), then every module of the service imported from there.
# Prints the size of each service's dependencies. Needs the package index.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for service in gateway backend; do
  venv="$work/$service-venv"
  "$python" -m venv "$venv"
  empty=$(du -sk "$venv"/lib/python*/site-packages | cut -f1)
  "$venv/bin/pip" install --quiet --require-hashes --no-deps -r "$root/requirements/$service.txt"
  "$venv/bin/pip" check
  full=$(du -sk "$venv"/lib/python*/site-packages | cut -f1)
  # The same files the Dockerfile's $service-build stage copies.
  src="$work/$service-src"
  mkdir "$src"
  cp "$root/pyproject.toml" "$root/README.md" "$src/"
  cp -r "$root/service_plumbing" "$root/$service" "$src/"
  "$venv/bin/pip" install --quiet --no-deps "$src"
  (cd "$work" && "$venv/bin/python" -c '
import importlib, pkgutil, sys
package = importlib.import_module(sys.argv[1])
names = [m.name for m in pkgutil.walk_packages(package.__path__, sys.argv[1] + ".")]
for name in names:
    if not name.endswith("__main__"):
        importlib.import_module(name)
print(f"{sys.argv[1]}: imported {len(names)} modules with only its own lock")
' "$service")
  echo "$service: dependencies $(( (full - empty) / 1024 )) MB"
done
