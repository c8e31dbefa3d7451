'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { createApi } = require('../lib/api.js');
const { createQueue } = require('../lib/queue.js');
const { startVisit, cacheVisitForm, cachedVisitForm } = require('../lib/visit.js');
const { createFakeWx } = require('./fake_wx.js');
const { fakeClock, makePng } = require('./support.js');
const { loadDefinition, passingAnswers, MEMBERS } = require('./survey_fixture.js');

function visitForm() {
  return {
    form: { id: 1, version: 1, title: '户户清走访调查表', definition: loadDefinition() },
    household: { id: 12, head_name: '张测一', village_name: '石桥村', group_name: '一组' },
    members: MEMBERS,
    prefill: { dibao_enrolled: { value: false, source: 'roster' }, medical_insurance: { value: { 11: true }, source: { 11: 'roster' } } },
    last_visit: null,
    visit_date: '2026-11-10',
  };
}

function setup() {
  const fake = createFakeWx({ handler: () => ({ statusCode: 500, data: '' }) });
  const clock = fakeClock(Date.parse('2026-11-10T02:00:00Z'));
  const api = createApi({ wx: fake.wx, baseUrl: 'https://x', clock });
  const queue = createQueue({ wx: fake.wx, api, clock, timers: null });
  return { fake, clock, queue };
}

test('a visit starts prefilled with its client_uuid and start time', () => {
  const { clock, queue } = setup();
  const v = startVisit(visitForm(), { queue, clock });
  assert.match(v.client_uuid, /^[0-9a-f-]{36}$/);
  assert.equal(v.started_at, '2026-11-10T02:00:00.000Z');
  assert.deepEqual(v.answers, { dibao_enrolled: false, medical_insurance: { 11: true } });
  assert.equal(v.label, '石桥村 一组 张测一');
});

test('photos are queued at once and referenced in their slot by client_uuid', () => {
  const { fake, clock, queue } = setup();
  const v = startVisit(visitForm(), { queue, clock });
  const p1 = v.addPhoto('photo_house', fake.addFile(makePng(1)));
  const p2 = v.addPhoto('photo_water', fake.addFile(makePng(2)));
  assert.deepEqual(v.answers.photo_house, [p1.client_uuid]);
  assert.deepEqual(v.answers.photo_water, [p2.client_uuid]);
  const queued = queue.photosOf(v.client_uuid);
  assert.deepEqual(queued.map((p) => [p.purpose, p.household_id, p.slot]), [['house', 12, 'photo_house'], ['water', 12, 'photo_water']]);
  v.removePhoto('photo_water', p2.client_uuid);
  assert.equal(v.answers.photo_water, undefined);
  assert.equal(queue.photosOf(v.client_uuid).length, 1);
  v.abandon();
  assert.equal(queue.items().length, 0);
});

test('finish refuses an incomplete form and queues a complete one with GPS', () => {
  const { fake, clock, queue } = setup();
  const v = startVisit(visitForm(), { queue, clock });
  const refused = v.finish();
  assert.equal(refused.ok, false);
  assert.ok(refused.model.errorCount > 10);
  assert.equal(queue.items().length, 0);
  const house = v.addPhoto('photo_house', fake.addFile(makePng(1)));
  const head = v.addPhoto('photo_helper_with_head', fake.addFile(makePng(2)));
  const full = passingAnswers(MEMBERS, '2026-11-10', {});
  Object.keys(full).forEach((k) => v.setAnswer(k, full[k]));
  v.setAnswer('water_quality', false);
  v.setAnswer('college_aid', true); // not asked: dropped from the body
  v.setGps({ lat: 29.8, lon: 106.05, accuracy: 8, altitude: null, coord: 'gcj02', captured_at: '2026-11-10T02:05:00.000Z' });
  clock.advance(20 * 60 * 1000);
  const done = v.finish();
  assert.equal(done.ok, true);
  assert.equal(done.failing.length, 1);
  assert.equal(done.body.client_uuid, v.client_uuid);
  assert.equal(done.body.household_id, 12);
  assert.equal(done.body.form_version, 1);
  assert.equal(done.body.ended_at, '2026-11-10T02:20:00.000Z');
  assert.deepEqual(done.body.gps, { lat: 29.8, lon: 106.05, accuracy: 8, coord: 'gcj02', captured_at: '2026-11-10T02:05:00.000Z' });
  assert.deepEqual(done.body.answers.photo_house, [house.client_uuid]);
  assert.deepEqual(done.body.answers.photo_helper_with_head, [head.client_uuid]);
  assert.equal(done.body.answers.college_aid, undefined);
  assert.deepEqual(queue.counts(), { visits: 1, photos: 2, held: 0 });
});

test('visit forms are cached per household for offline use', () => {
  const { fake } = setup();
  cacheVisitForm(fake.wx, visitForm(), { token: 'T' });
  assert.equal(cachedVisitForm(fake.wx, 12).household.head_name, '张测一');
  assert.equal(cachedVisitForm(fake.wx, 99), null);
});
