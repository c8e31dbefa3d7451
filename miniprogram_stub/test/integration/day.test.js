'use strict';
// A helper's whole day, driven through the mini-program's own modules against the live service
// that tests/integration/test_miniprogram_day.py starts (it sets the HHQ_IT_* variables and
// checks the server state afterwards from Python). Without those variables this file skips.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { createFakeWx } = require('../fake_wx.js');
const { makePng } = require('../support.js');
const { passingAnswers } = require('../survey_fixture.js');
const { createApi } = require('../../lib/api.js');
const { createQueue } = require('../../lib/queue.js');
const scan = require('../../lib/scan.js');
const gps = require('../../lib/gps.js');
const form = require('../../lib/form.js');
const { startVisit, cacheVisitForm, cachedVisitForm } = require('../../lib/visit.js');
const { loadMyHouseholds } = require('../../lib/households.js');
const report = require('../../lib/report.js');
const problems = require('../../lib/problems.js');
const { uuid4 } = require('../../lib/uuid.js');

const env = process.env;
const SKIP = env.HHQ_IT_API_BASE ? false : 'needs the live service: run tests/integration/test_miniprogram_day.py';
const API = env.HHQ_IT_API_BASE;
const PUBLIC = env.HHQ_IT_PUBLIC_BASE;
const CONFLICT_MESSAGE = '该走访编号已提交过不同的内容，请勿重复使用编号。';
const results = { steps: {}, visit_uuids: [], photo_uuids: [], held: [], duplicate_statuses: [] };

function save() {
  if (env.HHQ_IT_RESULT) fs.writeFileSync(env.HHQ_IT_RESULT, JSON.stringify(results, null, 2));
}

async function waitFor(predicate, ms, what) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (predicate()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail('timed out waiting for ' + what);
}

/** A route the server lacks answers 404 request.not_found (a real route's 404 has its own code). */
async function missingRoute(api, path, auth) {
  try {
    await api.request({ method: 'GET', path, auth: auth === undefined ? 'optional' : auth });
    return false;
  } catch (e) {
    return e.status === 404 && e.code === 'request.not_found';
  }
}

/** The app on one phone: the same wiring as app.js, with short backoffs for the test. */
function boot(fake) {
  const api = createApi({ wx: fake.wx, baseUrl: API });
  const queue = createQueue({ wx: fake.wx, api, baseMs: 100, maxMs: 400 });
  queue.start();
  return { fake, api, queue };
}

function wxLoginCode(wx) {
  return new Promise((resolve, reject) => wx.login({ success: (r) => resolve(r.code), fail: reject }));
}

test("a helper's day: login, scans, offline visits, sync with replays, a villager's report", { skip: SKIP, timeout: 240000 }, async (t) => {
  const households = JSON.parse(env.HHQ_IT_HOUSEHOLDS);
  const [A, B, C] = households;
  let phone = boot(createFakeWx({ http: true, name: 'helper-day' }));
  const bodies = [];
  const summaries = [];
  t.after(() => {
    save();
    phone.queue.setOnline(false); // no backoff timer outlives the test
  });

  await t.test('1. log in: wx.login, a one-time binding code the first time, then straight in', async () => {
    const first = await phone.api.loginWithWechat();
    assert.equal(first.status, 'binding_required');
    await assert.rejects(phone.api.bind('AAAA2222'), (e) => e.status === 400 && e.code === 'auth.binding_code_invalid' && /绑定码/.test(e.message));
    const bound = await phone.api.bind(env.HHQ_IT_BINDING_CODE);
    assert.equal(bound.user.username, env.HHQ_IT_HELPER_USERNAME);
    assert.equal((await phone.api.me()).wechat_bound, true);
    phone.api.clearSession();
    const again = await phone.api.loginWithWechat();
    assert.equal(again.status, 'ok');
    assert.equal(again.user.username, env.HHQ_IT_HELPER_USERNAME);
    results.helper_id = again.user.id;
    results.steps.login = 'ok';
  });

  await t.test('my households: everything is due this month', async () => {
    const model = await loadMyHouseholds(phone.api, phone.queue);
    assert.equal(model.counts.total, Number(env.HHQ_IT_MY_HOUSEHOLD_COUNT));
    assert.equal(model.counts.visited, 0);
    for (const h of households) assert.ok(model.due.some((r) => r.id === h.id), 'household ' + h.id + ' due');
  });

  await t.test('2. scan by options.q, by options.scene and in-app; a replaced card is told', async () => {
    const byQ = scan.fromOptions({ q: encodeURIComponent(PUBLIC + '/q/' + A.token) }, PUBLIC);
    assert.deepEqual(byQ, { source: 'q', token: A.token });
    const byScene = scan.fromOptions({ scene: encodeURIComponent(B.token) }, PUBLIC);
    assert.deepEqual(byScene, { source: 'scene', token: B.token });
    phone.fake.queueScan({ result: PUBLIC + '/q/' + C.token, scanType: 'QR_CODE' });
    const inApp = await scan.scanCard(phone.fake.wx, PUBLIC);
    assert.deepEqual(inApp, { source: 'scan', token: C.token });
    for (const [h, found] of [[A, byQ], [B, byScene], [C, inApp]]) {
      const view = await phone.api.scan(found.token);
      assert.equal(view.view, 'household');
      assert.equal(view.household.id, h.id);
      const visitForm = await phone.api.visitFormByToken(found.token);
      assert.equal(visitForm.household.id, h.id);
      assert.ok(visitForm.form.version >= 1 && visitForm.form.definition.sections.length > 5);
      cacheVisitForm(phone.fake.wx, visitForm, { token: found.token });
    }
    await assert.rejects(phone.api.scan(env.HHQ_IT_REPLACED_TOKEN), (e) => e.status === 410 && e.code === 'card.replaced' && e.message === '此二维码已作废，请使用新换发的明白卡。');
    await assert.rejects(phone.api.scan('NoSuchCard0000000000000'), (e) => e.status === 404 && e.code === 'card.not_found' && /二维码/.test(e.message));
    results.steps.scan = 'ok';
  });

  await t.test('3-4. offline: three visits with photos and GPS, one failing the water check', async () => {
    phone.fake.setNetwork(false);
    assert.equal(phone.queue.online, false);
    const now = Date.now();
    for (const [i, h] of households.entries()) {
      const visitForm = cachedVisitForm(phone.fake.wx, h.id);
      assert.ok(visitForm, 'the form was cached when the card was scanned');
      // Ten minutes each, a quarter of an hour apart, ending before now.
      const start = now - (50 - i * 15) * 60000;
      const end = start + 10 * 60000;
      const visit = startVisit(visitForm, { queue: phone.queue, clock: { now: () => end }, started_at: new Date(start).toISOString() });
      phone.fake.setLocation({ latitude: h.gcj_lat + 0.00005, longitude: h.gcj_lon, accuracy: 12, altitude: 310 });
      visit.setGps(await gps.getFix(phone.fake.wx, { clock: { now: () => start + 5 * 60000 } }));
      const house = visit.addPhoto('photo_house', phone.fake.addFile(makePng(100 + i * 2), 'house-' + i + '.png'));
      const head = visit.addPhoto('photo_helper_with_head', phone.fake.addFile(makePng(101 + i * 2), 'head-' + i + '.png'));
      const answers = passingAnswers(visitForm.members, form.chinaDate(end), {});
      Object.keys(answers).forEach((key) => visit.setAnswer(key, answers[key]));
      if (h === C) visit.setAnswer('water_quality', false);
      const model = visit.model();
      assert.equal(model.valid, true, JSON.stringify(model.errors));
      assert.deepEqual(model.failing.map((f) => f.key), h === C ? ['water_quality'] : []);
      if (h === C) assert.match(model.failing[0].text, /饮用水水质不达标/);
      const done = visit.finish(new Date(end).toISOString());
      assert.equal(done.ok, true);
      assert.equal(done.body.gps.coord, 'gcj02');
      bodies.push(done.body);
      results.visit_uuids.push(visit.client_uuid);
      results.photo_uuids.push(house.client_uuid, head.client_uuid);
    }
    assert.deepEqual(phone.queue.counts(), { visits: 3, photos: 6, held: 0 });
    const calls = phone.fake.calls.length;
    const summary = await phone.queue.flush();
    assert.equal(summary.visits.created, 0);
    assert.equal(phone.fake.calls.length, calls, 'nothing is sent while offline');
    results.steps.offline_visits = 'ok';
  });

  await t.test('the app restarts offline: the queue and the login survive', async () => {
    const before = phone.queue.items().map((i) => i.client_uuid);
    phone.queue.setOnline(false);
    phone = boot(phone.fake.restart());
    assert.equal(phone.fake.online, false);
    assert.deepEqual(phone.queue.items().map((i) => i.client_uuid), before);
    assert.ok(phone.api.session());
    results.steps.restart = 'ok';
  });

  await t.test('5-6. back online with an expired login: photos, then the batch sync', async () => {
    // The token lapsed while the phone was away: the first request gets a 401.
    const user = phone.api.session().user;
    phone.api.saveSession({ token: 'hhq_lapsed_' + uuid4(), expires_at: '2099-01-01T00:00:00Z', user });
    const logins = phone.fake.loginCount;
    phone.queue.on('flushed', (s) => summaries.push(s));
    phone.fake.setNetwork(true); // wx.onNetworkStatusChange → the queue flushes by itself
    await waitFor(() => phone.queue.items().length === 0, 60000, 'the queue to empty');
    assert.equal(phone.fake.loginCount, logins + 1, 'logged in again once');
    assert.notEqual(phone.api.session().token.indexOf('hhq_lapsed_'), 0);
    const statuses = summaries.flatMap((s) => s.results.map((r) => r.status));
    assert.deepEqual(statuses, ['created', 'created', 'created']);
    assert.equal(summaries.reduce((n, s) => n + s.photos.uploaded, 0), 6);
    const syncs = phone.fake.calls.filter((c) => c.path === '/api/v1/sync/visits');
    assert.equal(syncs.length, 1);
    assert.deepEqual(syncs[0].data.visits.map((v) => v.client_uuid), results.visit_uuids);
    results.steps.sync = 'ok';
  });

  await t.test('6. a forced duplicate replay: the same body again, its first answer lost', async () => {
    const before = summaries.length;
    phone.fake.dropNextResponse((req) => req.path === '/api/v1/sync/visits');
    phone.queue.addVisit(bodies[0], { label: '重放' });
    phone.queue.flush();
    await waitFor(() => phone.queue.items().length === 0, 30000, 'the replay to be acknowledged');
    const statuses = summaries.slice(before).flatMap((s) => s.results.map((r) => r.status));
    assert.deepEqual(statuses, ['duplicate']);
    assert.equal(phone.fake.calls.filter((c) => c.path === '/api/v1/sync/visits').length, 3);
    results.duplicate_statuses = statuses;
    results.steps.duplicate = 'ok';
  });

  await t.test('6. a conflicting replay: kept on the phone with the server\'s Chinese message', async () => {
    const changed = JSON.parse(JSON.stringify(bodies[1]));
    changed.answers.remarks = '复核后补充：老人已住院';
    phone.queue.addVisit(changed, { label: '冲突重放' });
    const summary = await phone.queue.flush();
    assert.equal(summary.visits.conflict, 1);
    const held = phone.queue.held();
    assert.equal(held.length, 1);
    assert.equal(held[0].client_uuid, bodies[1].client_uuid);
    assert.equal(held[0].error.code, 'visit.conflict');
    assert.equal(held[0].error.message, CONFLICT_MESSAGE);
    // Not retried blindly.
    const syncs = phone.fake.calls.filter((c) => c.path === '/api/v1/sync/visits').length;
    await phone.queue.flush();
    assert.equal(phone.fake.calls.filter((c) => c.path === '/api/v1/sync/visits').length, syncs);
    results.held = held.map((h) => ({ client_uuid: h.client_uuid, code: h.error.code, message: h.error.message }));
    results.steps.conflict = 'ok';
  });

  await t.test('my households after the sync: three visited, the water problem shown', async () => {
    const model = await loadMyHouseholds(phone.api, phone.queue);
    assert.equal(model.counts.visited, 3);
    for (const h of households) assert.ok(model.visited.some((r) => r.id === h.id));
    if (!(await missingRoute(phone.api, '/problems', true))) {
      assert.deepEqual(model.withProblems.map((r) => r.id), [C.id]);
    }
  });

  await t.test("7. a villager's report from the card, with receipt code and status", async (st) => {
    const villager = createFakeWx({ http: true, name: 'villager-day' });
    const api = createApi({ wx: villager.wx, baseUrl: API });
    if (await missingRoute(api, '/reports/areas')) {
      results.steps.report = 'skipped: POST /api/v1/reports is not on this server';
      st.skip(results.steps.report);
      return;
    }
    const found = scan.fromOptions({ q: encodeURIComponent(PUBLIC + '/q/' + C.token) }, PUBLIC);
    const view = await api.scan(found.token);
    assert.equal(view.view, 'public');
    assert.equal(view.can_report, true);
    assert.equal(view.household, undefined);
    const areas = await api.reportAreas();
    const area = areas.find((a) => a.area === 'water') || areas[areas.length - 1];
    const clientUuid = uuid4();
    const input = {
      card_token: found.token,
      area: area.area,
      description: '家里的自来水最近浑浊发黄，请帮忙看看。',
      filePaths: [villager.addFile(makePng(999), 'report.png')],
      contact_ok: true,
      wechat_code: await wxLoginCode(villager.wx),
      client_uuid: clientUuid,
    };
    const receipt = await report.sendReport(api, input, { wx: villager.wx });
    assert.match(receipt.receipt_code, /^[0-9A-Z]{4,16}$/);
    assert.match(receipt.status_label, /[\u4e00-\u9fff]/);
    // The answer got lost: the same client_uuid gives the same receipt, not a second report.
    const again = await api.submitReport({ card_token: found.token, area: area.area, description: input.description, photo_ids: receipt.photo_ids, client_uuid: clientUuid, contact_ok: true });
    assert.equal(again.status, 200);
    assert.equal(again.data.receipt_code, receipt.receipt_code);
    const status = await report.reportStatus(api, receipt.receipt_code);
    assert.equal(status.receipt_code, receipt.receipt_code);
    assert.match(status.status_label, /[\u4e00-\u9fff]/);
    assert.ok(Array.isArray(status.timeline) && status.timeline.length >= 1);
    assert.equal(status.household, undefined);
    assert.deepEqual(report.receipts(villager.wx).map((r) => r.receipt_code), [receipt.receipt_code]);
    await assert.rejects(report.reportStatus(api, 'NOSUCHCODE'), (e) => e.status === 404);
    results.receipt_code = receipt.receipt_code;
    results.report_uuid = clientUuid;
    results.steps.report = 'ok';
  });

  await t.test('the office rectifies the water problem with an evidence photo', async (st) => {
    const office = createFakeWx({ http: true, name: 'office-day' });
    const api = createApi({ wx: office.wx, baseUrl: API });
    assert.equal((await api.loginWithWechat()).status, 'binding_required');
    assert.equal((await api.bind(env.HHQ_IT_OFFICE_BINDING_CODE)).user.username, env.HHQ_IT_OFFICE_USERNAME);
    if (await missingRoute(api, '/problems', true)) {
      results.steps.office = 'skipped: GET /api/v1/problems is not on this server';
      st.skip(results.steps.office);
      return;
    }
    const list = await problems.loadProblems(api, { household_id: C.id, source: 'visit_check' });
    assert.equal(list.rows.length, 1);
    const row = list.rows[0];
    assert.equal(row.title, '饮用水水质不达标');
    assert.deepEqual(row.actions.map((a) => a.name), ['start']);
    const started = await problems.transition(api, row.id, { action: 'start' });
    assert.equal(started.status, 'rectifying');
    await assert.rejects(problems.transition(api, row.id, { action: 'rectify', note: '已处理' }), (e) => e.code === 'problem.evidence_required');
    await assert.rejects(api.transition(row.id, { action: 'rectify', note: '已处理' }), (e) => e.status === 422 && e.code === 'problem.evidence_required' && /照片/.test(e.message));
    const done = await problems.transition(api, row.id, { action: 'rectify', note: '已清洗蓄水池并消毒，水质复检合格。', filePaths: [office.addFile(makePng(555), 'evidence.png')] });
    assert.equal(done.status, 'rectified');
    const last = done.timeline[done.timeline.length - 1];
    assert.equal(last.action, 'rectify');
    assert.equal(last.photos.length, 1);
    results.office_problem_id = row.id;
    results.steps.office = 'ok';
  });
});
