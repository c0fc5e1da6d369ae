// An independent check of the bridge's webhook signature, as a partner's Node handler would do it:
// Bridge-Signature: t=<unix>,v1=<hex>[,v1=<hex>] over "<t>." + raw body, HMAC-SHA256, partner secret.
// Usage: node verify_webhook.js <header> <body file> <secret>; prints "valid" or "invalid".
const crypto = require("crypto");
const fs = require("fs");
const [header, bodyFile, secret] = process.argv.slice(2);
const body = fs.readFileSync(bodyFile);
const parts = header.split(",").map((item) => item.split("="));
const t = parts.filter(([k]) => k === "t").map(([, v]) => v);
const signatures = parts.filter(([k]) => k === "v1").map(([, v]) => Buffer.from(v, "hex"));
const tooOld = t.length !== 1 || Math.abs(Date.now() / 1000 - Number(t[0])) > 300;
const expected = crypto.createHmac("sha256", secret).update(t[0] + ".").update(body).digest();
const ok = !tooOld && signatures.some((s) => s.length === expected.length && crypto.timingSafeEqual(s, expected));
console.log(ok ? "valid" : "invalid");
