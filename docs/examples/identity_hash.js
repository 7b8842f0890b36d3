// Sample for the website's backend (Node.js): sign the signed-in user's id for the cxhub widget.
//
// identityHash = hex HMAC-SHA256(key = the inbox's identity secret, message = the user's id)
// The secret stays on the server (environment variable); only the hash goes into the page.
"use strict";

const crypto = require("node:crypto");

function cxhubIdentityHash(externalId, secret = process.env.CXHUB_IDENTITY_SECRET) {
  return crypto.createHmac("sha256", secret).update(String(externalId), "utf8").digest("hex");
}

module.exports = { cxhubIdentityHash };

if (require.main === module) {
  const [externalId, secret] = process.argv.slice(2);
  process.stdout.write(cxhubIdentityHash(externalId, secret) + "\n");
}
