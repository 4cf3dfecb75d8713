#!/bin/sh
# Install Debian's chromium for the browser test (tests/browser) when it is missing. `playwright install`
# cannot download browsers here, so the test drives /usr/bin/chromium. Idempotent; used by `make test`.
set -eu
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "ensure-chromium: /usr/bin/chromium is missing and neither root nor sudo is available;" \
         "install it with: apt-get install -y chromium" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y chromium
test -x /usr/bin/chromium
