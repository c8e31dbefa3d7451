'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { uuid4, isUuid } = require('../lib/uuid.js');
const { seededBytes } = require('./support.js');

test('uuid4 is a canonical lower-case version-4 UUID', () => {
  for (let i = 0; i < 200; i += 1) {
    const id = uuid4();
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(isUuid(id));
  }
});

test('uuid4 sets version and variant bits whatever the random bytes', () => {
  assert.equal(uuid4(() => new Uint8Array(16).fill(255)), 'ffffffff-ffff-4fff-bfff-ffffffffffff');
  assert.equal(uuid4(() => new Uint8Array(16)), '00000000-0000-4000-8000-000000000000');
});

test('uuid4 is deterministic for injected bytes and unique for real ones', () => {
  assert.equal(uuid4(seededBytes(7)), uuid4(seededBytes(7)));
  assert.notEqual(uuid4(seededBytes(7)), uuid4(seededBytes(8)));
  const seen = new Set(Array.from({ length: 2000 }, () => uuid4((n) => crypto.randomBytes(n))));
  assert.equal(seen.size, 2000);
});

test('uuid4 refuses a short random source', () => {
  assert.throws(() => uuid4(() => new Uint8Array(8)), /16 bytes/);
});

test('isUuid accepts only the canonical hyphenated form', () => {
  assert.ok(isUuid('0F8FAD5B-D9CB-469F-A165-70867728950E'));
  assert.ok(!isUuid('0f8fad5bd9cb469fa16570867728950e'));
  assert.ok(!isUuid('{0f8fad5b-d9cb-469f-a165-70867728950e}'));
  assert.ok(!isUuid(42));
});
