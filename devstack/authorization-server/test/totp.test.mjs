// RFC 6238 Appendix B test vectors (the SHA-1 column, 8 digits) and the replay window.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { base32, hotp, matchingStep, totp } from '../totp.mjs';

const SECRET = Buffer.from('12345678901234567890', 'ascii');

const VECTORS = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

test('RFC 6238 Appendix B: SHA-1 vectors', () => {
  for (const [time, code] of VECTORS) {
    assert.equal(totp(SECRET, time, { digits: 8 }), code, `T=${time}`);
  }
});

test('RFC 4226 Appendix D: HOTP vectors', () => {
  const expected = ['755224', '287082', '359152', '969429', '338314',
    '254676', '287922', '162583', '399871', '520489'];
  expected.forEach((code, counter) => assert.equal(hotp(SECRET, counter), code));
});

test('a code matches its own step and its neighbours only', () => {
  const now = 1111111111;
  const code = totp(SECRET, now);
  assert.equal(matchingStep(SECRET, code, now), Math.floor(now / 30));
  assert.equal(matchingStep(SECRET, code, now + 30), Math.floor(now / 30));
  assert.equal(matchingStep(SECRET, code, now + 90), null);
  assert.equal(matchingStep(SECRET, '12345', now), null);
  assert.equal(matchingStep(SECRET, 'abcdef', now), null);
  assert.equal(matchingStep(SECRET, undefined, now), null);
});

test('base32 follows RFC 4648 §10', () => {
  assert.equal(base32(Buffer.from('foobar')), 'MZXW6YTBOI');
  assert.equal(base32(Buffer.from('f')), 'MY');
});
