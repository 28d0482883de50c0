#!/usr/bin/env bash
# One entry point for a fresh machine with only Python and pip:
#   bash scripts/dev.sh demo   # the course scenario end to end against the bundled emulator
#   bash scripts/dev.sh test   # lint, type check and the whole test suite
# Both create .venv, install labctl with its emulator and test extras, and (for tests) the
# Debian packages the end-to-end tests run: openssh-server and shellcheck.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LABCTL_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
cd "$ROOT"

say() { printf '==> %s\n' "$*" >&2; }

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtualenv $VENV"
    "$PY" -m venv "$VENV"
  fi
  # Reinstall only when the dependency list changed since the last install.
  local stamp="$VENV/.labctl-installed"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    say "installing labctl and its dependencies into $VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e ".[emulator,test]"
    touch "$stamp"
  fi
}

ensure_debian_packages() {
  local missing=()
  [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      say "cannot install ${missing[*]} (not root, no sudo): the tests that need them will be skipped"
      return 0
    fi
  fi
  if command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    say "no apt-get: install ${missing[*]} yourself; the tests that need them will be skipped"
  fi
}

run_tests() {
  ensure_venv
  ensure_debian_packages
  export PATH="$VENV/bin:$PATH"
  say "ruff check"
  ruff check labctl tests benchmarks
  say "ruff format --check"
  ruff format --check labctl tests benchmarks
  say "mypy labctl"
  mypy labctl
  say "pytest"
  local rc=0
  python -m pytest "$@" || rc=$?
  if [ "$rc" -eq 5 ]; then
    say "pytest collected no tests: that is a failure"
    return 1
  fi
  return "$rc"
}

run_demo() {
  ensure_venv
  export PATH="$VENV/bin:$PATH"
  bash "$ROOT/scripts/course_demo.sh" "$@"
}

case "${1:-}" in
  test) shift; run_tests "$@" ;;
  demo) shift; run_demo "$@" ;;
  *) echo "usage: bash scripts/dev.sh test|demo" >&2; exit 2 ;;
esac
