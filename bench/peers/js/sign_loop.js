'use strict';
/*
 * samlify's IdP building and signing a login Response: IdentityProvider.createLoginResponse over the
 * HTTP-POST binding, the assertion signed (the SP's metadata sets WantAssertionsSigned="true") with
 * RSA-SHA256 and a SHA-256 digest, exclusive c14n, the same RSA-2048 key as the bridge.
 * The template is samlify's default login response with an AuthnStatement and three attributes
 * (Email, LoginType, AccountNumber), filled through customTagReplacement as its documentation shows.
 *
 * Usage: node sign_loop.js KEY_PEM CERT_PEM SECONDS MAX_COUNT SP_ENTITY ACS
 * Prints one JSON line: {"count", "seconds", "cpu_seconds", "bytes"}; CPU from process.cpuUsage()
 * (user + system, every thread of this process).
 */
const fs = require('fs');
const crypto = require('crypto');
const samlify = require('samlify');

const [keyPath, certPath, secondsArg, maxArg, spEntity, acs] = process.argv.slice(2);
const seconds = Number(secondsArg);
const maxCount = Number(maxArg);

// Only responses are built here: nothing is parsed, so no schema validator is needed; samlify
// refuses to run without one, so a no-op is set.
samlify.setSchemaValidator({ validate: () => Promise.resolve('skipped') });

const { SamlLib } = samlify;
const ATTRS = [
  { name: 'Email', valueTag: 'email' },
  { name: 'LoginType', valueTag: 'logintype' },
  { name: 'AccountNumber', valueTag: 'account' },
].map((a) => ({ ...a, nameFormat: 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic', valueXsiType: 'xs:string' }));
const AUTHN = '<saml:AuthnStatement AuthnInstant="{IssueInstant}" SessionIndex="{SessionIndex}"><saml:AuthnContext>'
  + '<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport'
  + '</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>';
const template = SamlLib.defaultLoginResponseTemplate.context.replace('{AuthnStatement}', AUTHN);

const key = fs.readFileSync(keyPath, 'utf8');  // loaded once, as a running IdP holds it
const cert = fs.readFileSync(certPath, 'utf8');
const idpEntity = 'http://127.0.0.1/samlify-idp';
const idp = samlify.IdentityProvider({
  entityID: idpEntity,
  privateKey: key,
  signingCert: cert,
  nameIDFormat: ['urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'],
  singleSignOnService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: idpEntity + '/sso' }],
  requestSignatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  loginResponseTemplate: { context: template, attributes: ATTRS },
});
const sp = samlify.ServiceProvider({
  metadata: `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${spEntity}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true"
      protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${acs}" index="1"/>
  </md:SPSSODescriptor></md:EntityDescriptor>`,
});
const user = { email: 'pat.payer@example.com' };

function fill(i) {
  return (tpl) => {
    const now = new Date();
    const later = new Date(now.getTime() + 5 * 60 * 1000).toISOString();
    const id = '_r' + crypto.randomBytes(10).toString('hex');
    const values = {
      ID: id, AssertionID: '_a' + crypto.randomBytes(10).toString('hex'), Destination: acs, Audience: spEntity,
      SubjectRecipient: acs, Issuer: idpEntity, IssueInstant: now.toISOString(),
      StatusCode: 'urn:oasis:names:tc:SAML:2.0:status:Success', ConditionsNotBefore: now.toISOString(),
      ConditionsNotOnOrAfter: later, SubjectConfirmationDataNotOnOrAfter: later,
      NameIDFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress', NameID: user.email,
      InResponseTo: '_req' + i, SessionIndex: '_s' + i,
      attrEmail: user.email, attrLogintype: '1', attrAccount: '101Invoice',
    };
    return { id, context: SamlLib.replaceTagsByValue(tpl, values) };
  };
}

async function respond(i) {
  const { context } = await idp.createLoginResponse(sp, { extract: { request: { id: '_req' + i } } }, 'post', user, fill(i));
  return context;
}

function cpu() {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

(async () => {
  const first = Buffer.from(await respond(-1), 'base64').toString();  // warm-up
  if (process.env.PEER_PRINT_ONE) process.stderr.write(first + '\n');
  let count = 0;
  const started = process.hrtime.bigint();
  const cpuStarted = cpu();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
  while (count < maxCount && elapsed() < seconds) {
    await respond(count);
    count += 1;
  }
  const version = require('samlify/package.json').version;
  process.stdout.write(JSON.stringify({
    count, seconds: elapsed(), cpu_seconds: cpu() - cpuStarted, bytes: first.length,
    library: `samlify ${version} (Node ${process.version})`,
  }) + '\n');
})().catch((err) => { process.stderr.write(String(err && err.stack || err) + '\n'); process.exit(1); });
