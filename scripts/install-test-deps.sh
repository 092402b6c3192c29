#!/usr/bin/env bash
# Installs the Debian packages the real-server tests need, when missing.
# As root: apt-get update, then a noninteractive install. Otherwise: say what to install.
set -euo pipefail

packages=(dovecot-imapd dovecot-pop3d dovecot-lmtpd postfix redis-server postgresql chromium docker-compose gettext)
missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "test-deps: all Debian packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "test-deps: missing Debian packages: ${missing[*]}" >&2
  echo "test-deps: run 'make test' as root to install them, or: sudo apt-get install ${missing[*]}" >&2
  # Without CI the suite still runs; tests that need a missing server skip with this reason.
  [ "${CI:-}" = "true" ] && exit 1
  exit 0
fi

echo "test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The fixtures start their own private instances on free ports; the system daemons the
# packages would start are not needed, so keep them from starting (policy-rc.d 101).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
