#!/usr/bin/env bash
# Installs everything the bridge and its tests need from the project's own files:
# Debian packages (xmlsec1 for the signature cross-check, chromium for the page tests)
# and a virtualenv at .venv with the package and its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v xmlsec1 >/dev/null 2>&1 || need_apt+=(xmlsec1)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install Debian packages: ${need_apt[*]} (tests that need them will skip)" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
# xmlsec and lxml must share one libxml2 (SAML-NOTES): fail early and clearly if they do not.
.venv/bin/python -c "import lxml.etree, xmlsec; print('setup: lxml', lxml.etree.LXML_VERSION, 'xmlsec', xmlsec.__version__)"
