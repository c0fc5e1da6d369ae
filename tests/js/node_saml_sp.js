// A @node-saml/node-saml service provider driven by the Python tests (tests/interop/node_saml.py).
// One process per SP, so node-saml's in-memory request-ID cache (InResponseTo checks) lives across calls.
// Protocol: one JSON object per line on stdin ({"op": ..., ...}), one JSON answer per line on stdout
// ({"ok": true, ...} or {"ok": false, "error": "..."}).
"use strict";

const readline = require("readline");
const { SAML } = require("@node-saml/node-saml");

let saml = null;

const ops = {
  init({ options }) {
    saml = new SAML(options);
    return {};
  },
  metadata({ decryptionCert, signingCert }) {
    return { xml: saml.generateServiceProviderMetadata(decryptionCert || null, signingCert || null) };
  },
  async authorizeUrl({ relayState }) {
    return { url: await saml.getAuthorizeUrlAsync(relayState || "", undefined, {}) };
  },
  async authorizeMessage({ relayState }) {
    return { fields: await saml.getAuthorizeMessageAsync(relayState || "", undefined, {}) };
  },
  async validatePost({ fields }) {
    const { profile, loggedOut } = await saml.validatePostResponseAsync(fields);
    return { profile, loggedOut };
  },
};

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  let answer;
  try {
    const request = JSON.parse(line);
    answer = { ok: true, ...(await ops[request.op](request)) };
  } catch (err) {
    answer = { ok: false, error: String(err && err.message ? err.message : err) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
