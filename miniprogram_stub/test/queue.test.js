'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { createApi } = require('../lib/api.js');
const { createQueue, describeError, QUEUE_KEY, SENT_KEY } = require('../lib/queue.js');
const { createFakeWx, router } = require('./fake_wx.js');
const { json, apiError, fakeClock, makePng, settle, seededRandom } = require('./support.js');

function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    const out = {};
    Object.keys(value)
      .sort()
      .forEach((k) => {
        if (k !== 'device_sent_at') out[k] = canonical(value[k]);
      });
    return out;
  }
  return value;
}

// The server side of the queue: photos by client_uuid, visits by client_uuid with body
// identity (duplicate vs conflict), a replaced card, and switchable failures.
function queueServer() {
  const state = { photos: new Map(), visits: new Map(), uploads: [], syncs: [], photoFail: null, syncFail: null, nextId: 100 };
  const handler = router({
    'POST /api/v1/auth/wechat': () => json(200, { status: 'ok', token: 'tok', expires_at: '2099-01-01T00:00:00Z', user: { id: 5 } }),
    'POST /api/v1/photos': (req) => {
      state.uploads.push(req);
      if (state.photoFail) return state.photoFail(req);
      const uuid = req.formData.client_uuid;
      if (state.photos.has(uuid)) return json(200, { id: state.photos.get(uuid), client_uuid: uuid });
      state.nextId += 1;
      state.photos.set(uuid, state.nextId);
      return json(201, { id: state.nextId, client_uuid: uuid });
    },
    'POST /api/v1/sync/visits': (req) => {
      state.syncs.push(req.data.visits);
      if (state.syncFail) return state.syncFail(req);
      const results = req.data.visits.map((body) => {
        if (body.card_token === 'OLDCARD') {
          return { client_uuid: body.client_uuid, status: 'invalid', error: { code: 'card.replaced', message: '此二维码已作废，请使用新换发的明白卡。' } };
        }
        if (body.answers && body.answers.bad) {
          return { client_uuid: body.client_uuid, status: 'invalid', error: { code: 'visit.invalid_answers', message: '问卷填写有误，请按提示修改。', fields: { answers: { food_secure: ['必填项不能为空。'] } } } };
        }
        const key = JSON.stringify(canonical(body));
        if (state.visits.has(body.client_uuid)) {
          const known = state.visits.get(body.client_uuid);
          if (known.key === key) return { client_uuid: body.client_uuid, status: 'duplicate', visit_id: known.id };
          return { client_uuid: body.client_uuid, status: 'conflict', error: { code: 'visit.conflict', message: '该走访编号已提交过不同的内容，请勿重复使用编号。', details: { visit_id: known.id } } };
        }
        state.nextId += 1;
        state.visits.set(body.client_uuid, { key, id: state.nextId });
        return { client_uuid: body.client_uuid, status: 'created', visit_id: state.nextId };
      });
      return json(200, { results });
    },
  });
  return { state, handler };
}

function setup(opts) {
  const o = opts || {};
  const server = o.server || queueServer();
  const fake = o.fake || createFakeWx({ handler: server.handler, name: 'helper' });
  const clock = o.clock || fakeClock();
  const api = createApi({ wx: fake.wx, baseUrl: 'https://hhq.example.cn', clock });
  const queue = createQueue({ wx: fake.wx, api, clock, timers: null, random: seededRandom(1), batchSize: o.batchSize });
  return { server, fake, clock, api, queue };
}

function visitBody(queue, extra) {
  return Object.assign(
    {
      client_uuid: queue.newId(),
      household_id: 12,
      form_version: 1,
      answers: { food_secure: true },
      started_at: '2026-11-10T01:00:00Z',
      ended_at: '2026-11-10T01:20:00Z',
      photo_ids: [],
    },
    extra || {}
  );
}

function recordVisit(ctx, seed, extra) {
  const body = visitBody(ctx.queue, extra);
  const photo = ctx.queue.addPhoto({ filePath: ctx.fake.addFile(makePng(seed), 'p' + seed + '.png'), purpose: 'house', visit_client_uuid: body.client_uuid, household_id: body.household_id });
  body.answers = Object.assign({ photo_house: [photo.client_uuid] }, body.answers);
  ctx.queue.addVisit(body, { label: '石桥村 张测' + seed });
  return { body, photo };
}

test('items are stored the moment they are made and survive an app restart', async () => {
  const ctx = setup();
  const { body, photo } = recordVisit(ctx, 1);
  assert.match(photo.client_uuid, /^[0-9a-f-]{36}$/);
  assert.match(photo.file_path, /^wxfile:\/\/store\//);
  const stored = ctx.fake.wx.getStorageSync(QUEUE_KEY);
  assert.deepEqual(stored.items.map((i) => i.kind), ['photo', 'visit']);
  const restarted = ctx.fake.restart();
  const again = setup({ server: ctx.server, fake: restarted, clock: ctx.clock });
  assert.deepEqual(again.queue.items().map((i) => i.client_uuid), [photo.client_uuid, body.client_uuid]);
  const summary = await again.queue.flush();
  assert.equal(summary.visits.created, 1);
  assert.equal(again.queue.items().length, 0);
  assert.equal(ctx.server.state.visits.size, 1);
});

test('offline nothing is sent; coming back online (wx.onNetworkStatusChange) flushes photos, then visits', async () => {
  const ctx = setup();
  ctx.queue.start();
  await settle();
  ctx.fake.setNetwork(false);
  await settle();
  const a = recordVisit(ctx, 1);
  const b = recordVisit(ctx, 2);
  assert.equal((await ctx.queue.flush()).visits.created, 0);
  assert.equal(ctx.fake.calls.length, 0);
  assert.deepEqual(ctx.queue.counts(), { visits: 2, photos: 2, held: 0 });
  const flushed = new Promise((resolve) => ctx.queue.on('flushed', resolve));
  ctx.fake.setNetwork(true);
  const summary = await flushed;
  assert.equal(summary.photos.uploaded, 2);
  assert.equal(summary.visits.created, 2);
  assert.deepEqual(ctx.fake.calls.map((c) => c.path), ['/api/v1/auth/wechat', '/api/v1/photos', '/api/v1/photos', '/api/v1/sync/visits']);
  const upload = ctx.server.state.uploads[0];
  assert.deepEqual(Object.keys(upload.formData).sort(), ['client_uuid', 'household_id', 'purpose', 'visit_client_uuid']);
  assert.equal(upload.formData.visit_client_uuid, a.body.client_uuid);
  const sent = ctx.server.state.syncs[0];
  assert.deepEqual(sent.map((v) => v.client_uuid), [a.body.client_uuid, b.body.client_uuid]);
  assert.equal(sent[0].device_sent_at, new Date(ctx.clock.now()).toISOString());
  assert.deepEqual(sent[0].answers.photo_house, [a.photo.client_uuid]);
  assert.equal(ctx.queue.items().length, 0);
  assert.equal(ctx.fake.files.has(a.photo.file_path), false);
  assert.deepEqual(ctx.fake.wx.getStorageSync(SENT_KEY).map((s) => s.status), ['created', 'created']);
});

test('a lost answer is replayed and the server reports a duplicate: done, not sent twice as new', async () => {
  const ctx = setup();
  const { body } = recordVisit(ctx, 1);
  ctx.fake.dropNextResponse((req) => req.path === '/api/v1/sync/visits');
  const first = await ctx.queue.flush();
  assert.equal(first.visits.retry, 1);
  assert.equal(ctx.server.state.visits.size, 1); // the server stored it
  const item = ctx.queue.items().find((i) => i.kind === 'visit');
  assert.equal(item.state, 'pending');
  assert.equal(item.error.message, '网络不好，稍后自动重试。');
  ctx.clock.advance(60 * 60 * 1000);
  const second = await ctx.queue.flush();
  assert.deepEqual(second.results.map((r) => r.status), ['duplicate']);
  assert.equal(ctx.queue.items().length, 0);
  assert.equal(ctx.server.state.syncs.length, 2);
  assert.equal(ctx.server.state.syncs[1][0].client_uuid, body.client_uuid);
});

test('a conflicting replay is held with the server message and never retried by itself', async () => {
  const ctx = setup();
  const { body } = recordVisit(ctx, 1);
  await ctx.queue.flush();
  const held = [];
  ctx.queue.on('held', (item) => held.push(item));
  ctx.queue.addVisit(Object.assign({}, body, { answers: Object.assign({}, body.answers, { remarks: '改了' }) }));
  const summary = await ctx.queue.flush();
  assert.equal(summary.visits.conflict, 1);
  const item = ctx.queue.held()[0];
  assert.equal(item.client_uuid, body.client_uuid);
  assert.equal(item.error.code, 'visit.conflict');
  assert.equal(item.error.message, '该走访编号已提交过不同的内容，请勿重复使用编号。');
  assert.equal(held.length, 1);
  ctx.clock.advance(24 * 3600 * 1000);
  await ctx.queue.flush();
  assert.equal(ctx.server.state.syncs.length, 2);
  assert.deepEqual(ctx.queue.counts(), { visits: 0, photos: 0, held: 1 });
  // The helper sends it as a new visit.
  const fresh = ctx.queue.resubmitAsNew(body.client_uuid);
  assert.notEqual(fresh, body.client_uuid);
  assert.equal((await ctx.queue.flush()).visits.created, 1);
  assert.equal(ctx.queue.items().length, 0);
});

test('invalid answers are held with the field messages; describeError names the questions', async () => {
  const ctx = setup();
  recordVisit(ctx, 1, { answers: { bad: true } });
  await ctx.queue.flush();
  const [item] = ctx.queue.held();
  assert.equal(item.error.status, 422);
  assert.equal(describeError(item.error, { food_secure: '不愁吃' }), '问卷填写有误，请按提示修改。；不愁吃：必填项不能为空。');
  assert.ok(ctx.queue.retryItem(item.id));
  assert.equal(ctx.queue.items().find((i) => i.id === item.id).state, 'pending');
  assert.ok(ctx.queue.discard(item.id));
  assert.equal(ctx.queue.items().length, 0);
});

test('a replaced card (410) is held and announced', async () => {
  const ctx = setup();
  const replaced = [];
  ctx.queue.on('card_replaced', (item) => replaced.push(item));
  ctx.queue.addVisit(visitBody(ctx.queue, { household_id: null, card_token: 'OLDCARD' }), { label: '扫码走访' });
  await ctx.queue.flush();
  assert.equal(replaced.length, 1);
  assert.equal(replaced[0].card_replaced, true);
  assert.equal(replaced[0].error.status, 410);
  assert.equal(replaced[0].error.message, '此二维码已作废，请使用新换发的明白卡。');
});

test('a refused photo is held, its visit waits and nothing is retried blindly', async () => {
  const ctx = setup();
  ctx.server.state.photoFail = () => apiError(422, 'photo.corrupt', '照片文件已损坏，无法读取，请重新拍摄后上传。');
  const { photo } = recordVisit(ctx, 1);
  const summary = await ctx.queue.flush();
  assert.equal(summary.photos.held, 1);
  assert.equal(ctx.server.state.syncs.length, 0);
  const items = ctx.queue.items();
  assert.equal(items.find((i) => i.id === photo.client_uuid).error.message, '照片文件已损坏，无法读取，请重新拍摄后上传。');
  assert.equal(items.find((i) => i.kind === 'visit').error.code, 'photo.held');
  ctx.clock.advance(3600 * 1000);
  await ctx.queue.flush();
  assert.equal(ctx.server.state.uploads.length, 1);
});

test('5xx answers back off with jitter; items wait until due', async () => {
  const ctx = setup();
  ctx.server.state.syncFail = () => ({ statusCode: 503, data: { error: { code: 'storage.unavailable', message: '存储暂不可用' } } });
  recordVisit(ctx, 1);
  const first = await ctx.queue.flush();
  assert.equal(first.visits.retry, 1);
  const due = ctx.queue.nextDueAt();
  const wait = due - ctx.clock.now();
  assert.ok(wait > 0 && wait < 2000, String(wait)); // within the first backoff ceiling (2 s)
  ctx.server.state.syncFail = null;
  ctx.clock.set(due - 1);
  await ctx.queue.flush();
  assert.equal(ctx.server.state.syncs.length, 1, 'not sent before it is due');
  ctx.clock.set(due);
  assert.equal((await ctx.queue.flush()).visits.created, 1);
  assert.equal(ctx.server.state.syncs.length, 2);
});

test('repeated failures wait longer and longer (capped)', async () => {
  const ctx = setup();
  ctx.server.state.syncFail = () => ({ statusCode: 500, data: 'oops' });
  recordVisit(ctx, 1);
  const waits = [];
  for (let i = 0; i < 8; i += 1) {
    await ctx.queue.flush();
    const due = ctx.queue.nextDueAt();
    waits.push(due - ctx.clock.now());
    ctx.clock.set(due);
  }
  const item = ctx.queue.items().find((i) => i.kind === 'visit');
  assert.equal(item.attempts, 8);
  assert.ok(waits.every((w) => w >= 0 && w <= 10 * 60 * 1000));
  assert.ok(Math.max(...waits.slice(4)) > Math.max(...waits.slice(0, 2)));
});

test('a network failure during the flush stops it; coming back online sends at once', async () => {
  const ctx = setup();
  ctx.queue.start();
  await settle();
  recordVisit(ctx, 1);
  recordVisit(ctx, 2);
  ctx.fake.setNetwork(false);
  await settle();
  await ctx.queue.setOnline(true); // the queue thinks it is online, the phone is not
  const photos = ctx.queue.items().filter((i) => i.kind === 'photo');
  assert.equal(photos.filter((p) => p.state === 'pending' && p.attempts === 1).length, 1);
  assert.equal(photos.filter((p) => p.attempts === 0).length, 1);
  const flushed = new Promise((resolve) => ctx.queue.on('flushed', resolve));
  ctx.fake.setNetwork(true);
  const summary = await flushed;
  assert.equal(summary.visits.created, 2);
});

test('an expired login during a flush is renewed without losing the queue', async () => {
  const server = queueServer();
  let expired = true;
  const inner = server.handler;
  server.handler = async (req) => {
    if (req.path === '/api/v1/photos' && expired && req.header.Authorization === 'Bearer old') {
      return apiError(401, 'auth.token_expired', '登录已过期，请重新登录。');
    }
    return inner(req);
  };
  const ctx = setup({ server });
  ctx.api.saveSession({ token: 'old', expires_at: '2099-01-01T00:00:00Z' });
  recordVisit(ctx, 1);
  const summary = await ctx.queue.flush();
  expired = false;
  assert.equal(summary.visits.created, 1);
  assert.equal(ctx.api.session().token, 'tok');
});

test('when the WeChat is not bound the flush stops and keeps everything', async () => {
  const server = queueServer();
  const inner = server.handler;
  server.handler = async (req) => (req.path === '/api/v1/auth/wechat' ? json(200, { status: 'binding_required', bind_ticket: 't' }) : inner(req));
  const ctx = setup({ server });
  recordVisit(ctx, 1);
  const summary = await ctx.queue.flush();
  assert.equal(summary.stopped.code, 'auth.binding_required');
  assert.deepEqual(ctx.queue.counts(), { visits: 1, photos: 1, held: 0 });
  assert.equal(ctx.queue.items()[0].attempts, 0);
});

test('visits go in batches of at most 200', async () => {
  const ctx = setup();
  for (let i = 0; i < 450; i += 1) ctx.queue.addVisit(visitBody(ctx.queue));
  const summary = await ctx.queue.flush();
  assert.equal(summary.visits.created, 450);
  assert.deepEqual(ctx.server.state.syncs.map((b) => b.length), [200, 200, 50]);
});

test('a whole-batch refusal (e.g. 422 sync.too_many) holds the batch with the message', async () => {
  const ctx = setup({ batchSize: 3 });
  ctx.server.state.syncFail = () => apiError(422, 'sync.too_many', '一次最多同步 2 条走访记录。');
  for (let i = 0; i < 3; i += 1) ctx.queue.addVisit(visitBody(ctx.queue));
  const summary = await ctx.queue.flush();
  assert.equal(summary.visits.held, 3);
  assert.ok(ctx.queue.held().every((i) => i.error.message === '一次最多同步 2 条走访记录。'));
});

test('concurrent flushes share one run', async () => {
  const ctx = setup();
  recordVisit(ctx, 1);
  const [a, b] = await Promise.all([ctx.queue.flush(), ctx.queue.flush()]);
  assert.equal(a, b);
  assert.equal(ctx.server.state.syncs.length, 1);
  assert.equal(ctx.server.state.uploads.length, 1);
});

test('removing a photo before the visit is finished drops it and its file', () => {
  const ctx = setup();
  const body = visitBody(ctx.queue);
  const p = ctx.queue.addPhoto({ filePath: ctx.fake.addFile(makePng(3)), visit_client_uuid: body.client_uuid });
  assert.equal(ctx.queue.photosOf(body.client_uuid).length, 1);
  assert.ok(ctx.queue.removePhoto(p.client_uuid));
  assert.equal(ctx.fake.files.has(p.file_path), false);
  assert.equal(ctx.queue.items().length, 0);
  assert.throws(() => ctx.queue.addVisit({}), /client_uuid/);
});
