"""Shibboleth SP 3 (Debian's shibd and mod_shib under Apache) in a sandbox the test fixture owns.

Everything lives in one temporary folder: shibboleth2.xml, the attribute map, loggers, the SP's
keys, shibd's socket and metadata backing file, Apache's config, pid and logs. shibd and Apache
listen on 127.0.0.1 only (Apache on a free port; shibd on a Unix socket in the folder) and run as
the current user, or as ``nobody`` when the tests run as root (Apache refuses to serve as root;
shibd drops to the same user so Apache's workers can reach its socket).

The configuration follows Shibboleth's own defaults (``/etc/shibboleth``: security policy,
protocols, attribute policy, templates) with what a deployment sets for an IdP: ``<SSO
entityID=…>`` naming the bridge, a ``MetadataProvider`` reading the bridge's metadata URL with a
``RequireValidUntil`` filter (Shibboleth's recommendation for remote metadata), an attribute map
for the bridge's three claims, and the SP's own signing and encryption keys. The sandbox is plain
http on loopback, hence ``handlerSSL="false"`` and ``cookieProps="http"``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from saml_peers import KeyPair

SHIBD = "/usr/sbin/shibd"
APACHE = "/usr/sbin/apache2"
MODULES = Path("/usr/lib/apache2/modules")
SHIB_ETC = Path("/etc/shibboleth")
ENTITY_ID = "https://sp-shibboleth.test/shibboleth"
BASIC = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
CLAIMS = ("Email", "LoginType", "AccountNumber")
START_TIMEOUT = 60.0


def missing() -> str | None:
    """Why Shibboleth cannot run here, or None."""
    needed = [Path(SHIBD), Path(APACHE), MODULES / "mod_shib.so", MODULES / "mod_include.so",
              SHIB_ETC / "protocols.xml", SHIB_ETC / "security-policy.xml"]
    absent = [str(p) for p in needed if not p.exists()]
    if absent:
        return ("Shibboleth SP is not installed (Debian packages shibboleth-sp-utils, libapache2-mod-shib, "
                f"apache2; scripts/setup.sh installs them as root): missing {', '.join(absent)}")
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_LOGGER = """log4j.rootCategory={level}, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.fileName={path}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=%d{{%Y-%m-%d %H:%M:%S}} %p %c %x: %m%n
"""

_ATTRIBUTE_MAP = """<Attributes xmlns="urn:mace:shibboleth:2.0:attribute-map">
{rows}
</Attributes>
"""

_PAGE = """<!DOCTYPE html>
<html><body><h1>Protected</h1>
<dl>
<dt>Email</dt><dd id="Email"><!--#echo var="Email" --></dd>
<dt>LoginType</dt><dd id="LoginType"><!--#echo var="LoginType" --></dd>
<dt>AccountNumber</dt><dd id="AccountNumber"><!--#echo var="AccountNumber" --></dd>
<dt>Query</dt><dd id="Query"><!--#echo var="QUERY_STRING" --></dd>
</dl></body></html>
"""


@dataclass
class ShibbolethSP:
    """A running Shibboleth SP: ``base`` is Apache's URL, ``/secure/…`` its protected pages."""

    directory: Path
    port: int
    idp_entity_id: str
    idp_metadata_url: str
    sign_requests: bool = True
    request_binding: str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
    entity_id: str = ENTITY_ID
    _shibd: subprocess.Popen[bytes] | None = None
    _apache: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def acs_url(self) -> str:
        return f"{self.base}/Shibboleth.sso/SAML2/POST"

    # --- configuration ---------------------------------------------------------------------------
    def _shibboleth2(self) -> str:
        d = self.directory
        return f"""<SPConfig xmlns="urn:mace:shibboleth:3.0:native:sp:config"
    xmlns:conf="urn:mace:shibboleth:3.0:native:sp:config" clockSkew="180">
  <OutOfProcess logger="{d}/shibd.logger" tranLogFormat="%u|%s|%IDP|%i|%ac|%t|%attr|%n|%b|%E|%S|%SS|%L|%UA|%a"/>
  <InProcess logger="{d}/native.logger"/>
  <UnixListener address="{d}/shibd.sock"/>
  <ApplicationDefaults entityID="{self.entity_id}" REMOTE_USER="Email"
      signing="{'true' if self.sign_requests else 'false'}" encryption="false">
    <Sessions lifetime="28800" timeout="3600" relayState="ss:mem" checkAddress="false"
        handlerSSL="false" cookieProps="http" redirectLimit="exact">
      <SSO entityID="{self.idp_entity_id}" outgoingBindings="{self.request_binding}">SAML2</SSO>
      <Logout>SAML2 Local</Logout>
      <Handler type="MetadataGenerator" Location="/Metadata" signing="false"/>
      <Handler type="Status" Location="/Status" acl="127.0.0.1 ::1"/>
      <Handler type="Session" Location="/Session" showAttributeValues="true"/>
    </Sessions>
    <Errors supportContact="root@localhost" helpLocation="/about.html" styleSheet="/shibboleth-sp/main.css"/>
    <MetadataProvider type="XML" validate="true" url="{self.idp_metadata_url}"
        backingFilePath="{d}/idp-metadata.xml" maxRefreshDelay="3600">
      <MetadataFilter type="RequireValidUntil" maxValidityInterval="2419200"/>
    </MetadataProvider>
    <AttributeExtractor type="XML" validate="true" reloadChanges="false" path="{d}/attribute-map.xml"/>
    <AttributeFilter type="XML" validate="true" path="{SHIB_ETC}/attribute-policy.xml"/>
    <CredentialResolver type="File" use="signing" key="{d}/sp-signing-key.pem" certificate="{d}/sp-signing-cert.pem"/>
    <CredentialResolver type="File" use="encryption" key="{d}/sp-encrypt-key.pem"
        certificate="{d}/sp-encrypt-cert.pem"/>
  </ApplicationDefaults>
  <SecurityPolicyProvider type="XML" validate="true" path="{SHIB_ETC}/security-policy.xml"/>
  <ProtocolProvider type="XML" validate="true" reloadChanges="false" path="{SHIB_ETC}/protocols.xml"/>
</SPConfig>
"""

    def _apache_conf(self, user: str | None) -> str:
        d = self.directory
        identity = f"User {user}\nGroup nogroup\n" if user else ""
        return f"""ServerRoot {d}
DefaultRuntimeDir {d}/run
PidFile {d}/run/apache.pid
Listen 127.0.0.1:{self.port}
ServerName 127.0.0.1:{self.port}
{identity}ErrorLog {d}/apache-error.log
LogLevel warn
LoadModule mpm_event_module {MODULES}/mod_mpm_event.so
LoadModule authn_core_module {MODULES}/mod_authn_core.so
LoadModule authz_core_module {MODULES}/mod_authz_core.so
LoadModule include_module {MODULES}/mod_include.so
LoadModule mod_shib {MODULES}/mod_shib.so
ShibConfig {d}/shibboleth2.xml
ShibCompatValidUser Off
StartServers 1
ServerLimit 1
ThreadsPerChild 8
MaxRequestWorkers 8
DocumentRoot {d}/htdocs
<Directory {d}/htdocs>
  Require all granted
</Directory>
<Location /Shibboleth.sso>
  SetHandler shib
</Location>
<Location /secure>
  AuthType shibboleth
  ShibRequestSetting requireSession 1
  Require shib-session
  Options +Includes
  AcceptPathInfo On
  ForceType text/html
  SetOutputFilter INCLUDES
</Location>
"""

    def write(self, user: str | None) -> None:
        d = self.directory
        for sub in ("run", "htdocs"):
            (d / sub).mkdir(exist_ok=True)
        for name, pair in (("signing", KeyPair.fresh("shibboleth-sp")), ("encrypt", KeyPair.fresh("shibboleth-enc"))):
            (d / f"sp-{name}-key.pem").write_text(pair.key_pem)
            (d / f"sp-{name}-cert.pem").write_text(pair.cert_pem)
        (d / "shibboleth2.xml").write_text(self._shibboleth2())
        rows = "\n".join(f'  <Attribute name="{c}" nameFormat="{BASIC}" id="{c}"/>' for c in CLAIMS)
        (d / "attribute-map.xml").write_text(_ATTRIBUTE_MAP.format(rows=rows))
        (d / "shibd.logger").write_text(_LOGGER.format(level="INFO", path=d / "shibd.log"))
        (d / "native.logger").write_text(_LOGGER.format(level="WARN", path=d / "native.log"))
        (d / "htdocs" / "secure").write_text(_PAGE)
        (d / "httpd.conf").write_text(self._apache_conf(user))

    # --- processes -------------------------------------------------------------------------------
    def start(self) -> None:
        user = "nobody" if os.geteuid() == 0 else None
        self.write(user)
        if user:
            shutil.chown(self.directory, user, "nogroup")
            for path in self.directory.rglob("*"):
                shutil.chown(path, user, "nogroup")
        shibd = [SHIBD, "-F", "-f", "-c", str(self.directory / "shibboleth2.xml"), "-p",
                 str(self.directory / "run" / "shibd.pid")]
        if user:
            shibd += ["-u", user, "-g", "nogroup"]
        self._shibd = subprocess.Popen(shibd, stdout=self._output("shibd"), stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self._wait_for(lambda: (self.directory / "shibd.sock").exists(), "shibd to open its socket", self._shibd)
        self._apache = subprocess.Popen([APACHE, "-f", str(self.directory / "httpd.conf"), "-DFOREGROUND"],
                                        stdout=self._output("apache"), stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self._wait_for(self._answers, "Apache to answer", self._apache)

    def _output(self, name: str):  # type: ignore[no-untyped-def]
        return (self.directory / f"{name}.out").open("wb")

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.base}/Shibboleth.sso/Metadata", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _wait_for(self, ready, what: str, process: subprocess.Popen[bytes]) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if ready():
                return
            if process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; logs:\n{self.logs()}")

    def metadata(self) -> bytes:
        """The SP's own metadata, as its MetadataGenerator handler publishes it."""
        response = httpx.get(f"{self.base}/Shibboleth.sso/Metadata", timeout=10)
        response.raise_for_status()
        return response.content

    def logs(self) -> str:
        parts = []
        for name in ("shibd.out", "shibd.log", "native.log", "apache.out", "apache-error.log"):
            path = self.directory / name
            if path.exists():
                parts.append(f"--- {name}\n" + path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def stop(self) -> None:
        for process in (self._apache, self._shibd):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)


def sandbox() -> Path:
    """A folder outside pytest's 0700 tmp tree, so Apache's and shibd's unprivileged user can reach it."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    directory = Path(tempfile.mkdtemp(prefix="icbridge-shib-"))
    directory.chmod(0o755)
    return directory
