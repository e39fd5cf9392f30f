// Time-based one-time passwords (RFC 6238) over HOTP (RFC 4226), with Node's crypto only.
//
// The dev AS seeds one TOTP secret per demo user from a configured key, so a tester (or
// `bff demo`) can compute the same codes as an authenticator app would.

import * as crypto from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

// RFC 4226 §5.3: HMAC over the 8-byte big-endian counter, dynamic truncation, modulo 10^digits.
export function hotp(secret, counter, { digits = 6, algorithm = 'sha1' } = {}) {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = crypto.createHmac(algorithm, secret).update(message).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = ((mac[offset] & 0x7f) << 24) | (mac[offset + 1] << 16)
    | (mac[offset + 2] << 8) | mac[offset + 3];
  return String(binary % 10 ** digits).padStart(digits, '0');
}

// RFC 6238 §4: T = floor((now - T0) / X) with T0 = 0.
export function timeStep(nowSeconds, period = 30) {
  return Math.floor(nowSeconds / period);
}

export function totp(secret, nowSeconds, { period = 30, digits = 6, algorithm = 'sha1' } = {}) {
  return hotp(secret, timeStep(nowSeconds, period), { digits, algorithm });
}

// The step whose code matches, within ±window steps, or null (RFC 6238 §5.2: allow for
// clock drift and transmission delay, by at most one step by default).
export function matchingStep(secret, code, nowSeconds, { period = 30, window = 1, digits = 6 } = {}) {
  if (typeof code !== 'string' || !/^[0-9]{6,8}$/.test(code) || code.length !== digits) return null;
  const now = timeStep(nowSeconds, period);
  let found = null;
  for (let step = now - window; step <= now + window; step += 1) {
    const expected = Buffer.from(hotp(secret, step, { digits }));
    // compare every candidate in constant time, so timing tells nothing about which matched
    if (crypto.timingSafeEqual(expected, Buffer.from(code)) && found === null) found = step;
  }
  return found;
}

export function base32(bytes) {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

// The demo user's seed: HMAC-SHA256(seedKey, login), first 20 bytes (the RFC 4226 §4 size).
export function seedFor(seedKey, login) {
  return crypto.createHmac('sha256', seedKey).update(String(login)).digest().subarray(0, 20);
}

export function otpauthUri(issuerLabel, login, seed, period = 30) {
  const label = encodeURIComponent(`${issuerLabel}:${login}`);
  const issuer = encodeURIComponent(issuerLabel);
  return `otpauth://totp/${label}?secret=${base32(seed)}&issuer=${issuer}&algorithm=SHA1&digits=6&period=${period}`;
}
