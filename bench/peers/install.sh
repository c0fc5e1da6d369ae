#!/usr/bin/env bash
# Bench-only peers for `python -m bench.run` (not part of scripts/setup.sh or CI):
#   SimpleSAMLphp's SAML2 library from Debian's package (with the PHP CLI and its DOM extension), and
#   samlify from npm, pinned by bench/peers/js/package-lock.json.
# Needs root (or sudo) for apt-get, and node + npm on PATH. Either part may fail alone: bench.run skips
# a peer that is not installed, with a note.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

$sudo apt-get install -y --no-install-recommends php-cli php-xml simplesamlphp
php -r 'require "/usr/share/simplesamlphp/vendor/autoload.php"; exit(class_exists("SAML2\\Assertion") ? 0 : 1);'

(cd "$here/js" && npm ci --no-audit --no-fund)
node -e 'require(process.argv[1]); ' "$here/js/node_modules/samlify"
echo "bench peers installed: SimpleSAMLphp $(dpkg-query -W -f='${Version}' simplesamlphp), samlify $(node -p 'require(process.argv[1]).version' "$here/js/node_modules/samlify/package.json")"
