'use strict';
// The pages, loaded as WeChat loads them (App(), Page(), getApp() and a global wx), wired to a
// fake server: they must only connect the lib modules to the UI, and do it correctly.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { createFakeWx, router } = require('./fake_wx.js');
const { json, apiError, makePng, settle } = require('./support.js');
const { loadDefinition, passingAnswers, MEMBERS } = require('./survey_fixture.js');

const ROOT = path.join(__dirname, '..');
const BASE = 'http://127.0.0.1:8000';
const TOKEN = 'Tok0123456789abcdefABCDEF';
const OLD = 'Old0123456789abcdefABCDEF';

function load(file, globals) {
  const source = fs.readFileSync(file, 'utf8');
  const fn = vm.runInThisContext('(function (require, module, exports, App, Page, getApp, wx) {' + source + '\n})', { filename: file });
  const mod = { exports: {} };
  fn((p) => require(path.resolve(path.dirname(file), p)), mod, mod.exports, globals.App, globals.Page, globals.getApp, globals.wx);
}

function bootApp(fake) {
  let def;
  load(path.join(ROOT, 'app.js'), { App: (d) => (def = d), wx: fake.wx });
  const app = Object.assign({}, def);
  app.onLaunch();
  return app;
}

function openPage(name, app, fake) {
  let def;
  load(path.join(ROOT, 'pages', name, name + '.js'), { Page: (d) => (def = d), getApp: () => app, wx: fake.wx });
  const page = Object.assign({}, def, { data: JSON.parse(JSON.stringify(def.data || {})) });
  page.setData = function setData(patch) {
    Object.assign(this.data, JSON.parse(JSON.stringify(patch)));
  };
  return page;
}

function ev(dataset, value) {
  return { currentTarget: { dataset }, detail: { value } };
}

function server() {
  const state = { bound: false, visits: [], photos: 0, transitions: [], reports: [] };
  const visitForm = {
    form: { id: 1, version: 1, title: '户户清走访调查表', definition: loadDefinition() },
    household: { id: 12, head_name: '张测一', village_name: '石桥村', group_name: '一组', category_label: '一般农户' },
    members: MEMBERS,
    prefill: {},
    last_visit: null,
    visit_date: '2026-11-10',
  };
  const user = { id: 5, username: 'helper_01_01', display_name: '测帮扶', grants: [{ role: 'helper' }] };
  const problem = { id: 9, household_id: 12, title: '饮用水水质不达标', description: '饮用水水质不达标', village: { name: '石桥村' }, head_name: '张*', status: 'rectifying', status_label: '整改中', allowed_actions: ['rectify'], timeline: [] };
  const handler = router({
    'POST /api/v1/auth/wechat': () => json(200, state.bound ? { status: 'ok', token: 't', user } : { status: 'binding_required', bind_ticket: 'bt' }),
    'POST /api/v1/auth/wechat/bind': (req) => {
      if (req.data.binding_code !== 'K7QM2XPA') return apiError(400, 'auth.binding_code_invalid', '绑定码无效、已使用或已过期，请联系镇扶贫办重新获取。');
      state.bound = true;
      return json(200, { status: 'ok', token: 't', user });
    },
    'GET /api/v1/assignments/mine': () => json(200, [visitForm.household, { id: 13, head_name: '李测二', village_name: '石桥村' }]),
    'GET /api/v1/visits': () => json(200, { items: [], total: 0, page: 1, page_size: 500 }),
    'GET /api/v1/problems': () => json(200, { items: [problem], total: 1, page: 1, page_size: 100 }),
    'GET /api/v1/problems/<id>': () => json(200, problem),
    'POST /api/v1/problems/<id>/transitions': (req) => {
      state.transitions.push(req.data);
      return json(200, Object.assign({}, problem, { status: 'rectified', status_label: '已整改', allowed_actions: [] }));
    },
    'GET /api/v1/scan/<token>': (req, token) => {
      if (token === OLD) return apiError(410, 'card.replaced', '此二维码已作废，请使用新换发的明白卡。');
      if (!req.header.Authorization) return json(200, { view: 'public', village_name: '石桥村', can_report: true, town_hotline: '023-45600000' });
      return json(200, { view: 'household', household: visitForm.household, members: MEMBERS, helper: null, due: { period: '2026-11', visit_due: true } });
    },
    'GET /api/v1/scan/<token>/visit-form': () => json(200, visitForm),
    'GET /api/v1/households/<id>/visit-form': () => json(200, visitForm),
    'POST /api/v1/photos': (req) => {
      state.photos += 1;
      return json(201, { id: state.photos, client_uuid: req.formData.client_uuid, purpose: req.formData.purpose });
    },
    'POST /api/v1/sync/visits': (req) => {
      const results = req.data.visits.map((v, i) => {
        if (v.answers.remarks === '冲突') {
          return { client_uuid: v.client_uuid, status: 'conflict', error: { code: 'visit.conflict', message: '该走访编号已提交过不同的内容，请勿重复使用编号。' } };
        }
        state.visits.push(v);
        return { client_uuid: v.client_uuid, status: 'created', visit_id: i + 1 };
      });
      return json(200, { results });
    },
    'GET /api/v1/reports/areas': () => json(200, [{ area: 'water', label: '饮水安全' }, { area: 'other', label: '其他' }]),
    'POST /api/v1/reports/photos': () => json(201, { id: 77 }),
    'POST /api/v1/reports': (req) => {
      state.reports.push(req.data);
      return json(201, { receipt_code: 'K7M2QH9XRT', status: 'reported', status_label: '已反映', area_label: '饮水安全', created_at: '2026-11-10T02:00:00+00:00', linked: false, moderation: 'pass' });
    },
    'GET /api/v1/reports/<code>': (req, code) => json(200, { receipt_code: code, status_label: '已反映', area_label: '饮水安全', timeline: [{ label: '已反映', at: '2026-11-10' }] }),
  });
  return { state, handler };
}

function setup() {
  const srv = server();
  const fake = createFakeWx({ handler: srv.handler, name: 'page-tester' });
  const app = bootApp(fake);
  return { srv, fake, app };
}

test('login: first time asks for the binding code, then opens my households', async () => {
  const { fake, app } = setup();
  const page = openPage('login', app, fake);
  page.onLoad();
  await settle(10);
  assert.equal(page.data.stage, 'bind');
  page.onCodeInput(ev({}, 'WRONG'));
  await page.bind();
  assert.match(page.data.error, /绑定码/);
  page.onCodeInput(ev({}, 'K7QM2XPA'));
  await page.bind();
  assert.deepEqual(fake.navigations.pop(), { kind: 'reLaunch', url: '/pages/households/households' });
});

test('scan → visit → photos → submit queues the visit and it reaches the server', async () => {
  const { srv, fake, app } = setup();
  srv.state.bound = true;
  await app.api.loginWithWechat();
  const scan = openPage('scan', app, fake);
  scan.onLoad({ q: encodeURIComponent(BASE + '/q/' + TOKEN) });
  await settle(10);
  assert.equal(scan.data.view.view, 'household');
  scan.startVisit();
  assert.deepEqual(fake.navigations.pop(), { kind: 'navigateTo', url: '/pages/visit/visit?household_id=12' });

  fake.setLocation({ latitude: 29.8, longitude: 106.05, accuracy: 15 });
  const visit = openPage('visit', app, fake);
  visit.onLoad({ household_id: '12' });
  await settle(10);
  assert.equal(visit.data.gpsText, '已定位（精度约15米）');
  assert.equal(visit.data.model.valid, false);
  visit.submit();
  assert.match(fake.toasts.pop().title, /^还有\d+处需要填写或修改$/);

  const answers = passingAnswers(MEMBERS, '2026-11-10', {});
  const types = {};
  visit.data.model.sections.forEach((s) => s.questions.forEach((q) => (types[q.key] = q.type)));
  for (const [key, value] of Object.entries(answers)) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [mid, v] of Object.entries(value)) visit.onRadio(ev({ key, member: mid }, v));
      if (types[key] === 'bool') for (const mid of Object.keys(value)) visit.onBool(ev({ key, member: mid, value: 'true' }));
    } else if (types[key] === 'bool') {
      visit.onBool(ev({ key, member: '', value: String(value) }));
    } else if (types[key] === 'single') {
      visit.onRadio(ev({ key, member: '' }, value));
    } else {
      visit.onInput(ev({ key, member: '', type: types[key] }, String(value)));
    }
  }
  visit.onBool(ev({ key: 'water_quality', member: '', value: 'false' }));
  // Photos: camera only, compressed; each one queued at once.
  const photos = openPage('photos', app, fake);
  photos.onShow();
  fake.queueMedia([makePng(1)]);
  photos.take(ev({ slot: 'photo_house' }));
  await settle(10);
  fake.queueMedia([makePng(2)]);
  photos.take(ev({ slot: 'photo_helper_with_head' }));
  await settle(10);
  const media = fake.calls.filter((c) => c.kind === 'chooseMedia');
  assert.deepEqual(media[0].sourceType, ['camera']);
  assert.deepEqual(media[0].sizeType, ['compressed']);
  assert.deepEqual(photos.data.slots.map((s) => s.photos.length), [1, 0, 1]);
  visit.onShow();
  assert.equal(visit.data.model.valid, true, JSON.stringify(visit.data.model.errors));
  assert.equal(visit.data.model.failing.length, 1);
  visit.submit(); // the failing check is shown first; the fake modal confirms
  const modal = fake.toasts.find((t) => t.kind === 'modal' && t.title === '以下检查未通过');
  assert.match(modal.content, /饮用水水质不达标/);
  await settle(20);
  await app.queue.flush();
  assert.equal(srv.state.visits.length, 1);
  assert.equal(srv.state.visits[0].household_id, 12);
  assert.equal(srv.state.visits[0].answers.water_quality, false);
  assert.equal(srv.state.visits[0].gps.coord, 'gcj02');
  assert.equal(srv.state.photos, 2);
  visit.onUnload();
  assert.equal(app.queue.items().length, 0);
});

test('scan: a replaced card tells the helper; a villager sees the public view and reports', async () => {
  const { srv, fake, app } = setup();
  const scan = openPage('scan', app, fake);
  scan.onLoad({ scene: OLD });
  await settle(10);
  assert.equal(scan.data.replaced, true);
  assert.equal(scan.data.error, '此二维码已作废，请使用新换发的明白卡。');
  assert.equal(fake.toasts.pop().title, '明白卡已作废');
  scan.onLoad({ scene: TOKEN });
  await settle(10);
  assert.equal(scan.data.view.view, 'public');
  scan.report();
  assert.deepEqual(fake.navigations.pop(), { kind: 'navigateTo', url: '/pages/report/report?token=' + TOKEN });
  const page = openPage('report', app, fake);
  page.onLoad({ token: TOKEN });
  await settle(10);
  assert.equal(page.data.areas.length, 2);
  await page.submit();
  assert.equal(page.data.error, '请简要说明遇到的问题。');
  page.onDescription(ev({}, '自来水浑浊'));
  page.onArea(ev({}, '0'));
  fake.queueMedia([makePng(3)]);
  page.addPhoto();
  await settle(10);
  await page.submit();
  assert.equal(page.data.receipt.receipt_code, 'K7M2QH9XRT');
  assert.equal(srv.state.reports[0].area, 'water');
  assert.deepEqual(srv.state.reports[0].photo_ids, [77]);
  assert.match(srv.state.reports[0].wechat_code, /^dev-/);
  await page.lookup();
  assert.equal(page.data.status.status_label, '已反映');
});

test('households, outbox and problems pages', async () => {
  const { srv, fake, app } = setup();
  srv.state.bound = true;
  await app.api.loginWithWechat();
  const households = openPage('households', app, fake);
  households.onShow();
  await settle(10);
  assert.deepEqual(households.data.model.counts, { total: 2, due: 2, visited: 0, queued: 0, problems: 1 });
  await households.openVisit(ev({ id: 13 }));
  assert.deepEqual(fake.navigations.pop(), { kind: 'navigateTo', url: '/pages/visit/visit?household_id=13' });
  households.onHide();

  app.queue.addVisit({ client_uuid: app.queue.newId(), household_id: 12, form_version: 1, answers: { remarks: '冲突' }, started_at: 'x', ended_at: 'y' }, { label: '石桥村 张测一' });
  const outbox = openPage('outbox', app, fake);
  outbox.onShow();
  assert.deepEqual(outbox.data.rows.map((r) => [r.kind, r.label, r.state]), [['走访', '石桥村 张测一', '等待上传']]);
  outbox.syncNow();
  await settle(20);
  const [row] = outbox.data.rows;
  assert.equal(row.held, true);
  assert.equal(row.conflict, true);
  assert.equal(row.message, '该走访编号已提交过不同的内容，请勿重复使用编号。');
  outbox.discard(ev({ id: row.id }));
  await settle(10);
  assert.deepEqual(outbox.data.rows, []);
  outbox.onUnload();

  const problemsPage = openPage('problems', app, fake);
  await problemsPage.load();
  assert.equal(problemsPage.data.rows[0].title, '饮用水水质不达标');
  await problemsPage.open(ev({ id: 9 }));
  problemsPage.chooseAction(ev({ name: 'rectify' }));
  await problemsPage.submitAction();
  assert.equal(problemsPage.data.error, '整改完成须附整改照片和说明。');
  problemsPage.onNote(ev({}, '已清洗水池'));
  fake.queueMedia([makePng(4)]);
  problemsPage.addEvidence();
  await settle(10);
  await problemsPage.submitAction();
  assert.equal(problemsPage.data.detail.status, 'rectified');
  assert.equal(srv.state.transitions[0].action, 'rectify');
  assert.equal(srv.state.transitions[0].photo_ids.length, 1);
});
