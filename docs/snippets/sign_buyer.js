// Sign a buyer token for the chat gateway (docs/buyer-tokens.md). Node.js 16+, no packages.
//
//   SHOP_SECRET=... node sign_buyer.js b0001      prints one token, valid 10 minutes, for one connection
"use strict";
const crypto = require("crypto");

function signBuyer(buyerId, secret, ttlSeconds = 600) {
  const nonce = crypto.randomBytes(18).toString("base64url"); // 24 characters of A-Z a-z 0-9 - _
  const expires = Math.floor(Date.now() / 1000) + ttlSeconds;
  const payload = Buffer.from(`${buyerId}|${expires}|${nonce}`, "utf8");
  const mac = crypto.createHmac("sha256", secret).update(payload).digest();
  return payload.toString("base64url") + "." + mac.toString("base64url");
}

module.exports = { signBuyer };

if (require.main === module) {
  console.log(signBuyer(process.argv[2], Buffer.from(process.env.SHOP_SECRET, "utf8")));
}
