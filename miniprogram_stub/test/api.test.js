'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { createApi, ApiError, encodeQuery } = require('../lib/api.js');
const { createFakeWx, router } = require('./fake_wx.js');
const { json, apiError, fakeClock } = require('./support.js');

const BASE = 'https://hhq.example.cn';

// A tiny server: WeChat login (bound after a binding code), token checks, a few endpoints.
function fakeServer(opts) {
  const o = opts || {};
  const state = { bound: !!o.bound, tokens: new Set(), seq: 0, logins: 0, binds: 0 };
  const issue = () => {
    state.seq += 1;
    const token = 'tok-' + state.seq;
    state.tokens.add(token);
    return { status: 'ok', token, token_type: 'Bearer', expires_at: '2099-01-01T00:00:00+00:00', user: { id: 7, display_name: '测试帮扶人' } };
  };
  const authed = (req) => state.tokens.has((req.header.Authorization || '').replace('Bearer ', ''));
  const handler = router({
    'POST /api/v1/auth/wechat': (req) => {
      state.logins += 1;
      assert.match(req.data.code, /^dev-/);
      return json(200, state.bound ? issue() : { status: 'binding_required', bind_ticket: 'ticket-1' });
    },
    'POST /api/v1/auth/wechat/bind': (req) => {
      state.binds += 1;
      if (req.data.binding_code !== 'K7QM2XPA') return apiError(400, 'auth.binding_code_invalid', '绑定码无效或已过期，请向镇扶贫办重新获取。');
      state.bound = true;
      return json(200, issue());
    },
    'GET /api/v1/assignments/mine': (req) => (authed(req) ? json(200, [{ id: 1 }]) : apiError(401, 'auth.token_expired', '登录已过期，请重新登录。')),
    'GET /api/v1/scan/<token>': (req, token) => {
      // Like the real app: a bad bearer token is refused on every endpoint, public or not.
      if (req.header.Authorization && !authed(req)) return apiError(401, 'auth.invalid_token', '登录凭证无效，请重新登录。');
      return json(200, { view: authed(req) ? 'household' : 'public', token });
    },
    'POST /api/v1/photos': (req) => {
      if (!authed(req)) return apiError(401, 'auth.token_expired', '登录已过期，请重新登录。');
      return json(201, { id: 31, echo: req.formData, file: req.file.filename });
    },
    'GET /api/v1/boom': () => ({ statusCode: 502, data: '<html>bad gateway</html>' }),
    'GET /api/v1/refused': () => apiError(409, 'visit.conflict', '该走访编号已提交过不同的内容，请勿重复使用编号。', { details: { visit_id: 3 } }),
  });
  return { state, handler };
}

function setup(opts) {
  const server = fakeServer(opts);
  const fake = createFakeWx({ handler: server.handler, name: 'alice' });
  const api = createApi({ wx: fake.wx, baseUrl: BASE + '/', clock: (opts && opts.clock) || undefined });
  return { server, fake, api };
}

test('query strings repeat list values and drop empty ones', () => {
  assert.equal(encodeQuery({ status: ['assigned', 'rectifying'], page: 2, q: '', x: null, name: '张 三' }), 'status=assigned&status=rectifying&page=2&name=%E5%BC%A0%20%E4%B8%89');
});

test('first login needs a binding code; then the token is stored and sent', async () => {
  const { server, fake, api } = setup();
  const first = await api.loginWithWechat();
  assert.deepEqual(first, { status: 'binding_required', bind_ticket: 'ticket-1' });
  assert.equal(api.session(), null);
  await assert.rejects(api.bind('WRONG'), (e) => e instanceof ApiError && e.code === 'auth.binding_code_invalid' && e.message.includes('绑定码'));
  const bound = await api.bind(' K7QM2XPA ');
  assert.equal(bound.status, 'ok');
  assert.equal(api.session().token, 'tok-1');
  assert.deepEqual(await api.myHouseholds(), [{ id: 1 }]);
  const call = fake.calls.find((c) => c.path === '/api/v1/assignments/mine');
  assert.equal(call.url, BASE + '/api/v1/assignments/mine');
  assert.equal(call.header.Authorization, 'Bearer tok-1');
  assert.equal(server.state.binds, 2);
});

test('an expired token is replaced by a new WeChat login and the request retried, queue untouched', async () => {
  const { server, fake, api } = setup({ bound: true });
  fake.wx.setStorageSync('hhq.queue.v1', { version: 1, items: [{ id: 'q1', kind: 'visit' }] });
  api.saveSession({ token: 'stale', expires_at: '2099-01-01T00:00:00Z' });
  assert.deepEqual(await api.myHouseholds(), [{ id: 1 }]);
  assert.equal(server.state.logins, 1);
  assert.equal(api.session().token, 'tok-1');
  assert.deepEqual(fake.wx.getStorageSync('hhq.queue.v1'), { version: 1, items: [{ id: 'q1', kind: 'visit' }] });
  const sent = fake.calls.filter((c) => c.path === '/api/v1/assignments/mine').map((c) => c.header.Authorization);
  assert.deepEqual(sent, ['Bearer stale', 'Bearer tok-1']);
});

test('concurrent 401s share one re-login', async () => {
  const { server, fake, api } = setup({ bound: true });
  api.saveSession({ token: 'stale' });
  const results = await Promise.all([api.myHouseholds(), api.myHouseholds(), api.myHouseholds()]);
  assert.equal(results.length, 3);
  assert.equal(server.state.logins, 1);
  assert.equal(fake.loginCount, 1);
});

test('a session past its expiry logs in before the request is sent', async () => {
  const clock = fakeClock(Date.parse('2026-11-10T00:00:00Z'));
  const { server, fake, api } = setup({ bound: true, clock });
  api.saveSession({ token: 'old', expires_at: '2026-11-09T00:00:00Z' });
  await api.myHouseholds();
  assert.equal(server.state.logins, 1);
  const sent = fake.calls.filter((c) => c.path === '/api/v1/assignments/mine').map((c) => c.header.Authorization);
  assert.deepEqual(sent, ['Bearer tok-1']);
});

test('re-login of an unbound WeChat fails with a Chinese binding message', async () => {
  const { api } = setup({ bound: false });
  api.saveSession({ token: 'stale' });
  await assert.rejects(api.myHouseholds(), (e) => e.code === 'auth.binding_required' && e.status === 401 && /绑定码/.test(e.message));
});

test('public endpoints fall back to an anonymous request when the login cannot be renewed', async () => {
  const { api } = setup({ bound: false });
  assert.equal((await api.scan('abc')).view, 'public');
  api.saveSession({ token: 'stale' });
  const view = await api.scan('abc');
  assert.equal(view.view, 'public');
  assert.equal(api.session(), null);
});

test('errors carry the server code and Chinese message; 5xx and network get Chinese defaults', async () => {
  const { fake, api } = setup({ bound: true });
  await assert.rejects(api.get('/refused', null, { auth: false }), (e) => e.status === 409 && e.code === 'visit.conflict' && e.message.startsWith('该走访编号') && e.details.visit_id === 3 && e.isClientError);
  await assert.rejects(api.get('/boom', null, { auth: false }), (e) => e.status === 502 && e.code === 'server.error' && e.message === '服务器暂时无法处理，请稍后重试。' && !e.isClientError);
  fake.setNetwork(false);
  await assert.rejects(api.get('/boom', null, { auth: false }), (e) => e.kind === 'network' && e.message === '网络连接失败，请检查网络后重试。');
});

test('uploadPhoto sends one multipart file with string form fields and parses the answer', async () => {
  const { fake, api } = setup({ bound: true });
  const filePath = fake.addFile(Buffer.from('png'), 'house.png');
  const res = await api.uploadPhoto({ filePath, client_uuid: 'u-1', purpose: 'house', visit_client_uuid: 'v-1', household_id: 12 });
  assert.equal(res.status, 201);
  assert.deepEqual(res.data.echo, { client_uuid: 'u-1', purpose: 'house', visit_client_uuid: 'v-1', household_id: '12' });
  assert.equal(res.data.file, 'house.png');
  const call = fake.calls.find((c) => c.kind === 'upload');
  assert.equal(call.name, 'file');
  assert.match(call.header.Authorization, /^Bearer tok-/);
});

test('a wx.login failure is reported in Chinese', async () => {
  const { fake, api } = setup({ bound: true });
  fake.failLogin('login:fail network');
  await assert.rejects(api.loginWithWechat(), (e) => e.code === 'wechat.login_failed' && e.message === '微信登录失败，请稍后重试。');
});

test('the base URL can be changed and remembered (developer settings)', async () => {
  const { fake, api } = setup({ bound: true });
  api.setBaseUrl('https://other.example.cn/');
  assert.equal(api.baseUrl, 'https://other.example.cn');
  await api.loginWithWechat();
  assert.equal(fake.calls[0].url, 'https://other.example.cn/api/v1/auth/wechat');
  const kept = createApi({ wx: fake.wx, baseUrl: BASE, baseUrlKey: 'hhq.apiBase' });
  kept.setBaseUrl(' https://dev.example.cn/ ', true);
  assert.equal(createApi({ wx: fake.wx, baseUrl: BASE, baseUrlKey: 'hhq.apiBase' }).baseUrl, 'https://dev.example.cn');
  kept.setBaseUrl('', true);
  assert.equal(createApi({ wx: fake.wx, baseUrl: BASE, baseUrlKey: 'hhq.apiBase' }).baseUrl, BASE);
});
