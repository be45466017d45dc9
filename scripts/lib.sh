# Shared by the scripts in this folder: defaults and small helpers. Sourced, not run.

# One place for the development defaults; every variable can be overridden.
# The password matters only where PostgreSQL asks for one (a fresh Debian install,
# which scripts/services sets up with it); trust-auth servers ignore it.
export DATABASE_URL="${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/cartwright}"
export TEST_DATABASE_SERVER="${TEST_DATABASE_SERVER:-postgres://postgres:postgres@127.0.0.1:5432}"
export AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
export API_BIND="${API_BIND:-127.0.0.1:8080}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAR="$ROOT/var"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# apt-get as root, or through sudo when there is one.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi
}

APT_UPDATED=
apt_install() {
  if [ -z "$APT_UPDATED" ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}
