#!/usr/bin/env bash
# Install the Debian packages that tests (and, with `bench`, benchmarks) start,
# when missing and when root:
#   scripts/system-deps.sh          postgresql, nginx, clamav-daemon, redis-server, chromium (+ fonts), npm
#   scripts/system-deps.sh bench    postgresql, nginx, clamav-daemon, wrk
# Without root, or when apt fails, it only warns: the test fixtures then skip,
# or fail under CI=true, naming what is missing.
set -uo pipefail

need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# nginx: the caching-proxy (CDN) test, and the delivery benchmark's peer.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
# clamd: malware scanning, with a signature database the tests write (no freshclam).
command -v clamd >/dev/null 2>&1 || [ -x /usr/sbin/clamd ] || need+=(clamav-daemon)
if [ "${1:-}" = "bench" ]; then
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
else
  # redis-server: rate-limit counters shared by two app instances.
  command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || need+=(redis-server)
  # The browser test drives Debian's chromium with Playwright (never
  # `playwright install`) and loads tus-js-client, which npm installs.
  [ -x /usr/bin/chromium ] || need+=(chromium fonts-liberation)
  command -v npm >/dev/null 2>&1 || need+=(npm)
fi

[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing ${need[*]} (not root: install them with apt-get)" >&2
  exit 0
fi
echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }; then
  echo "system-deps: apt-get could not install ${need[*]}" >&2
  exit 0
fi
# Debian starts the services it installs; tests run their own on free ports.
# (freshclam's would reach for mirrors; clamd's has no database until it has.)
for svc in postgresql nginx redis-server clamav-daemon clamav-freshclam; do
  if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
done
exit 0
