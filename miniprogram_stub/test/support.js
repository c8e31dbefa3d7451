'use strict';
// Test helpers: a manual clock, seeded randomness, and real PNG images (distinct per seed,
// so the server's reuse detection sees different pictures).

const zlib = require('node:zlib');

/** A manual clock: now() and sleep() that advances time instantly (records the sleeps). */
function fakeClock(start) {
  let t = start === undefined ? Date.parse('2026-11-10T02:00:00Z') : start;
  const sleeps = [];
  return {
    now: () => t,
    sleep: async (ms) => {
      sleeps.push(ms);
      t += ms;
    },
    advance(ms) {
      t += ms;
    },
    set(ms) {
      t = ms;
    },
    sleeps,
  };
}

/** A deterministic PRNG in [0, 1) (mulberry32). */
function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** randomBytes(n) from a seeded PRNG. */
function seededBytes(seed) {
  const r = seededRandom(seed);
  return (n) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
}

const CRC_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

function crc32(buf) {
  let c = -1;
  for (let i = 0; i < buf.length; i += 1) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/**
 * A valid RGB PNG of size×size pixels: random colour blocks from the seed, so two seeds give
 * pictures far apart in perceptual hash.
 */
function makePng(seed, size) {
  const side = size || 96;
  const rand = seededRandom(seed * 7919 + 17);
  const cells = 8;
  const colours = Array.from({ length: cells * cells }, () => [rand() * 255, rand() * 255, rand() * 255].map(Math.floor));
  const raw = Buffer.alloc((side * 3 + 1) * side);
  for (let y = 0; y < side; y += 1) {
    const row = y * (side * 3 + 1);
    raw[row] = 0; // filter: none
    for (let x = 0; x < side; x += 1) {
      const c = colours[Math.floor((y * cells) / side) * cells + Math.floor((x * cells) / side)];
      raw[row + 1 + x * 3] = c[0];
      raw[row + 2 + x * 3] = c[1];
      raw[row + 3 + x * 3] = c[2];
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Resolve after pending callbacks of the fake wx (which answer on setImmediate) have run. */
function settle(rounds) {
  let p = Promise.resolve();
  for (let i = 0; i < (rounds || 5); i += 1) p = p.then(() => new Promise((r) => setImmediate(r)));
  return p;
}

/** A JSON answer for the fake wx handler. */
function json(statusCode, data) {
  return { statusCode, data };
}

/** The server's error document. */
function apiError(statusCode, code, message, extra) {
  return { statusCode, data: { error: Object.assign({ code, message }, extra || {}) } };
}

module.exports = { fakeClock, seededRandom, seededBytes, makePng, crc32, settle, json, apiError };
