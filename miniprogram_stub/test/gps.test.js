'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const gps = require('../lib/gps.js');
const { createFakeWx } = require('./fake_wx.js');
const { fakeClock } = require('./support.js');

test('getFix asks for GCJ-02 with high accuracy and returns the fix with its type', async () => {
  const fake = createFakeWx({ location: { latitude: 29.8, longitude: 106.05, accuracy: 12.5, altitude: 310 } });
  const clock = fakeClock(Date.parse('2026-11-10T02:00:00Z'));
  const fix = await gps.getFix(fake.wx, { clock });
  assert.deepEqual(fix, { lat: 29.8, lon: 106.05, accuracy: 12.5, altitude: 310, coord: 'gcj02', captured_at: '2026-11-10T02:00:00.000Z' });
  const call = fake.calls.find((c) => c.kind === 'getLocation');
  assert.equal(call.type, 'gcj02');
  assert.equal(call.isHighAccuracy, true);
});

test('a refused permission gives a Chinese explanation; tryFix does not throw', async () => {
  const fake = createFakeWx();
  fake.failLocation('getLocation:fail auth deny');
  await assert.rejects(gps.getFix(fake.wx), (e) => e.code === 'gps.denied' && e.message === gps.MESSAGES.denied);
  const tried = await gps.tryFix(fake.wx);
  assert.equal(tried.fix, null);
  assert.equal(tried.error.code, 'gps.denied');
  fake.failLocation('getLocation:fail timeout');
  await assert.rejects(gps.getFix(fake.wx), (e) => e.code === 'gps.failed' && e.message === gps.MESSAGES.failed);
});

test('the payload never sends accuracy 0 for an unknown accuracy (0 means mock location)', () => {
  const fix = gps.toFix({ latitude: 1, longitude: 2 }, fakeClock(0));
  assert.equal(fix.accuracy, null);
  assert.equal(fix.altitude, null);
  const payload = gps.gpsPayload(fix);
  assert.equal(payload.accuracy, 9999);
  assert.equal(payload.coord, 'gcj02');
  assert.ok(!('altitude' in payload));
  assert.equal(gps.gpsPayload(null), null);
  assert.equal(gps.gpsPayload({ lat: 1, lon: 2, accuracy: 30, altitude: 5, coord: 'gcj02', captured_at: 'x' }).altitude, 5);
});
