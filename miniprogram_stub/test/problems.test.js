'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const problems = require('../lib/problems.js');
const { createApi } = require('../lib/api.js');
const { createFakeWx, router } = require('./fake_wx.js');
const { json, fakeClock, makePng } = require('./support.js');

test('actions carry Chinese labels and what they need', () => {
  const actions = problems.actionsOf({ allowed_actions: ['start', 'rectify'] });
  assert.deepEqual(actions.map((a) => a.label), ['开始整改', '整改完成']);
  assert.deepEqual(actions[1].needs, { note: true, photos: true });
  assert.equal(problems.checkInput('rectify', { note: '已修好' }), '整改完成须附整改照片和说明。');
  assert.equal(problems.checkInput('rectify', { filePaths: ['a'], note: ' ' }), '整改完成须附整改照片和说明。');
  assert.equal(problems.checkInput('return', {}), '请填写说明。');
  assert.equal(problems.checkInput('start', {}), null);
  const row = problems.listRow({ id: 3, title: '饮水', village: { name: '石桥村' }, head_name: '张*', status_label: '已交办', overdue: 1, allowed_actions: ['start'] });
  assert.equal(row.household, '石桥村 张*');
  assert.equal(row.overdue, true);
});

test('rectify uploads evidence photos (purpose evidence, retried with the same uuid) and names them', async () => {
  const uploads = [];
  let failures = 1;
  const handler = router({
    'POST /api/v1/photos': (req) => {
      uploads.push(req.formData);
      if (failures > 0) {
        failures -= 1;
        return { statusCode: 503, data: { error: { code: 'storage.unavailable', message: '存储暂不可用，请稍后重试。' } } };
      }
      return json(201, { id: 40 + uploads.length });
    },
    'POST /api/v1/problems/<id>/transitions': (req, id) => json(200, { id: Number(id), status: 'rectified', body: req.data }),
    'GET /api/v1/problems': (req) => json(200, { items: [{ id: 7, title: '饮水', allowed_actions: ['rectify'], q: req.query }], total: 1 }),
  });
  const fake = createFakeWx({ handler });
  const clock = fakeClock(0);
  const api = createApi({ wx: fake.wx, baseUrl: 'https://x', clock });
  api.saveSession({ token: 't' });
  const list = await problems.loadProblems(api, { status: 'rectifying' });
  assert.equal(list.rows[0].actions[0].name, 'rectify');
  await assert.rejects(problems.transition(api, 7, { action: 'rectify', note: '已接通自来水' }), (e) => e.code === 'problem.evidence_required');
  const paths = [fake.addFile(makePng(1)), fake.addFile(makePng(2))];
  const result = await problems.transition(api, 7, { action: 'rectify', note: '已接通自来水', filePaths: paths }, { clock, random: () => 0.5 });
  assert.equal(uploads.length, 3);
  assert.equal(uploads[0].client_uuid, uploads[1].client_uuid);
  assert.notEqual(uploads[1].client_uuid, uploads[2].client_uuid);
  assert.ok(uploads.every((u) => u.purpose === 'evidence'));
  assert.deepEqual(result.body, { action: 'rectify', note: '已接通自来水', photo_ids: [42, 43] });
  assert.deepEqual(clock.sleeps, [500]); // half of the first backoff ceiling (random 0.5)
});
