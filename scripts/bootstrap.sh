#!/usr/bin/env bash
# Installs what returnflow needs on a Debian/Ubuntu machine: the system packages it links
# against (apt, when running as root) and a .venv with the pinned Python dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

# libzbar0: pyzbar links it. postgresql: the central API's production engine, started by the tests
# as a throwaway server when none runs. chromium: the real browser the UI tests drive (Playwright
# uses it as installed; it never downloads a browser of its own).
# python3-venv: Debian's python3 makes no virtualenv without it.
SYSTEM_PACKAGES=(python3-venv libzbar0 postgresql chromium)

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "returnflow needs Python 3.11 or newer as python3 (found $(python3 --version 2>&1))" >&2; exit 1; }

missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "installing system packages: ${missing[*]}"
        apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
    else
        echo "returnflow needs these system packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2
        exit 1
    fi
fi

stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
    touch "$stamp"
fi
