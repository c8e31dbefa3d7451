'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { groupHouseholds, loadMyHouseholds, chinaMonth, isOpenProblem } = require('../lib/households.js');
const { createApi } = require('../lib/api.js');
const { createFakeWx, router } = require('./fake_wx.js');
const { json, apiError } = require('./support.js');

const NOW = Date.parse('2026-11-10T02:00:00Z');
const HOUSEHOLDS = [1, 2, 3, 4].map((id) => ({ id, head_name: '户主' + id, village_name: '石桥村', group_name: '一组', category_label: '一般农户' }));

test('the month is China time', () => {
  assert.deepEqual(chinaMonth(Date.parse('2026-10-31T16:30:00Z')), { period: '2026-11', since: '2026-10-31T16:00:00.000Z' });
  assert.equal(chinaMonth(Date.parse('2026-10-31T15:59:00Z')).period, '2026-10');
});

test('households split into due, visited (or queued) and with open problems', () => {
  const model = groupHouseholds({
    households: HOUSEHOLDS,
    visits: [
      { household_id: 1, ended_at: '2026-11-03T01:00:00+00:00' },
      { household_id: 2, ended_at: '2026-10-20T01:00:00+00:00' }, // last month
    ],
    problems: [
      { id: 9, household_id: 3, status: 'assigned', title: '饮水不安全', status_label: '已交办', overdue: true },
      { id: 10, household_id: 4, status: 'closed', title: '已销号' },
    ],
    queued: [{ kind: 'visit', household_id: 2, state: 'pending' }],
    now: NOW,
  });
  assert.equal(model.period, '2026-11');
  assert.deepEqual(model.due.map((h) => h.id), [3, 4]);
  assert.deepEqual(model.visited.map((h) => h.id), [1, 2]);
  assert.equal(model.visited[1].queued, 'pending');
  assert.deepEqual(model.withProblems.map((h) => [h.id, h.problems[0].overdue]), [[3, true]]);
  assert.deepEqual(model.counts, { total: 4, due: 2, visited: 1, queued: 1, problems: 1 });
  assert.ok(isOpenProblem({ status: 'verified' }));
  assert.ok(!isOpenProblem({ status: 'merged' }));
});

test('loading asks for my households, this month\'s visits and problems (absent problems tolerated)', async () => {
  let problemsStatus = 404;
  const handler = router({
    'GET /api/v1/assignments/mine': () => json(200, HOUSEHOLDS),
    'GET /api/v1/visits': (req) => json(200, { items: [{ household_id: 4, ended_at: '2026-11-02T00:00:00+00:00', q: req.query }], total: 1, page: 1, page_size: 500 }),
    'GET /api/v1/problems': () =>
      problemsStatus === 200
        ? json(200, { items: [{ id: 1, household_id: 1, status: 'rectifying', title: 'x' }], total: 1 })
        : apiError(problemsStatus, 'request.not_found', '请求的地址不存在。'),
  });
  const fake = createFakeWx({ handler });
  const api = createApi({ wx: fake.wx, baseUrl: 'https://x' });
  api.saveSession({ token: 't', user: { id: 5 } });
  let model = await loadMyHouseholds(api, null, NOW);
  assert.deepEqual(model.counts, { total: 4, due: 3, visited: 1, queued: 0, problems: 0 });
  const visitsCall = fake.calls.find((c) => c.path === '/api/v1/visits');
  assert.deepEqual(visitsCall.query, { since: '2026-10-31T16:00:00.000Z', helper_id: '5', page_size: '500' });
  problemsStatus = 200;
  model = await loadMyHouseholds(api, null, NOW);
  assert.equal(model.counts.problems, 1);
  problemsStatus = 500;
  await assert.rejects(loadMyHouseholds(api, null, NOW), (e) => e.status === 500);
});
