'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const report = require('../lib/report.js');
const { createApi } = require('../lib/api.js');
const { createFakeWx, router } = require('./fake_wx.js');
const { json, apiError, fakeClock, makePng } = require('./support.js');

function setup(routes) {
  const fake = createFakeWx({ handler: router(routes) });
  const clock = fakeClock(0);
  const api = createApi({ wx: fake.wx, baseUrl: 'https://x', clock });
  return { fake, api, clock };
}

test('a report uploads its photos, keeps one client_uuid across retries and remembers the receipt', async () => {
  const bodies = [];
  let fail = 1;
  const { fake, api, clock } = setup({
    'POST /api/v1/reports/photos': (req) => {
      assert.equal(req.header.Authorization, undefined);
      return json(201, { id: 5, client_uuid: req.formData.client_uuid, card: req.formData.card_token });
    },
    'POST /api/v1/reports': (req) => {
      bodies.push(req.data);
      if (fail-- > 0) return { statusCode: 502, data: 'bad gateway' };
      return json(201, { receipt_code: 'R7K2M9', status: 'reported', status_label: '已反映', area_label: '饮水安全', created_at: '2026-11-10T02:00:00+00:00', linked: false, moderation: 'pass' });
    },
    'GET /api/v1/reports/<code>': (req, code) => json(200, { receipt_code: code, status: 'reported', status_label: '已反映', timeline: [{ label: '已反映', at: 'x' }] }),
  });
  api.saveSession({ token: 'staff-token' }); // a helper's phone: the villager report still goes anonymously
  const receipt = await report.sendReport(api, { card_token: 'TOKEN', area: 'water', description: ' 自来水停了三天 ', filePaths: [fake.addFile(makePng(1))], contact_ok: true }, { clock, random: () => 0.5, wx: fake.wx });
  assert.equal(receipt.receipt_code, 'R7K2M9');
  assert.equal(receipt.client_uuid, bodies[0].client_uuid);
  assert.deepEqual(receipt.photo_ids, [5]);
  assert.equal(bodies.length, 2);
  assert.deepEqual(bodies[0], bodies[1]);
  assert.deepEqual(Object.keys(bodies[0]).sort(), ['area', 'card_token', 'client_uuid', 'contact_ok', 'description', 'photo_ids']);
  assert.equal(bodies[0].description, '自来水停了三天');
  assert.deepEqual(bodies[0].photo_ids, [5]);
  assert.deepEqual(report.receipts(fake.wx).map((r) => r.receipt_code), ['R7K2M9']);
  const status = await report.reportStatus(api, ' R7K2M9 ');
  assert.equal(status.status_label, '已反映');
});

test('refusals are not retried and keep the server message', async () => {
  let calls = 0;
  const { api } = setup({
    'POST /api/v1/reports': () => {
      calls += 1;
      return apiError(429, 'request.rate_limited', '操作过于频繁，请稍后再试。');
    },
  });
  await assert.rejects(report.sendReport(api, { card_token: 'T', description: '有问题' }), (e) => e.status === 429 && e.message === '操作过于频繁，请稍后再试。');
  assert.equal(calls, 1);
  await assert.rejects(report.sendReport(api, { card_token: 'T', description: '  ' }), (e) => e.message === '请简要说明遇到的问题。');
  assert.equal(report.checkReport({ description: '字'.repeat(501) }), '问题说明不能超过500字。');
});
