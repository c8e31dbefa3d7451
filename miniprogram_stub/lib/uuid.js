'use strict';
// Version-4 UUIDs for client_uuid: made on the phone the moment a visit or photo is created, so
// every retry and replay of that item carries the same id.

const HEX = '0123456789abcdef';

function defaultRandomBytes(n) {
  const out = new Uint8Array(n);
  const c = typeof globalThis !== 'undefined' ? globalThis.crypto : undefined;
  if (c && typeof c.getRandomValues === 'function') {
    c.getRandomValues(out);
    return out;
  }
  // The mini-program runtime has no synchronous CSPRNG; uniqueness, not secrecy, is needed.
  for (let i = 0; i < n; i += 1) out[i] = Math.floor(Math.random() * 256);
  return out;
}

/** A random RFC 4122 version-4 UUID, lower case, with hyphens. */
function uuid4(randomBytes) {
  const bytes = (randomBytes || defaultRandomBytes)(16);
  if (!bytes || bytes.length < 16) throw new Error('randomBytes must return 16 bytes');
  const b = Array.from(bytes).slice(0, 16);
  b[6] = (b[6] & 0x0f) | 0x40; // version 4
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
  let s = '';
  for (let i = 0; i < 16; i += 1) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += '-';
    s += HEX[b[i] >> 4] + HEX[b[i] & 15];
  }
  return s;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a value is a UUID in canonical form (the server accepts these as photo references). */
function isUuid(value) {
  return typeof value === 'string' && UUID_RE.test(value);
}

module.exports = { uuid4, isUuid };
