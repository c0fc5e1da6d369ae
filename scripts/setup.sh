#!/usr/bin/env bash
# Installs everything the bridge and its tests need from the project's own files:
# Debian packages (xmlsec1 for the signature cross-check, chromium for the page tests, Node for the JS test peers,
# Shibboleth SP with Apache for the interop tests)
# and a virtualenv at .venv with the package and its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v xmlsec1 >/dev/null 2>&1 || need_apt+=(xmlsec1)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
# Shibboleth SP 3 under Apache, an interop peer (tests/interop); the tests start their own shibd and Apache.
services=()
[ -x /usr/sbin/shibd ] || { need_apt+=(shibboleth-sp-utils); services+=(shibd); }
[ -x /usr/sbin/apache2 ] || { need_apt+=(apache2); services+=(apache2); }
[ -e /usr/lib/apache2/modules/mod_shib.so ] || need_apt+=(libapache2-mod-shib)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
    # Installed for the tests only: the system services they come with stay off (no port 80 listener).
    if [ ${#services[@]} -gt 0 ] && [ -d /run/systemd/system ]; then
      systemctl disable --now "${services[@]}" >/dev/null 2>&1 || true
    fi
  else
    echo "setup: please install Debian packages: ${need_apt[*]} (tests that need them will skip)" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
# Node test peers (axe-core, node-saml), pinned by tests/js/package-lock.json.
if [ ! -d tests/js/node_modules ] || [ tests/js/package-lock.json -nt tests/js/node_modules ]; then
  (cd tests/js && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
# xmlsec and lxml must share one libxml2 (SAML-NOTES): fail early and clearly if they do not.
.venv/bin/python -c "import lxml.etree, xmlsec; print('setup: lxml', lxml.etree.LXML_VERSION, 'xmlsec', xmlsec.__version__)"
