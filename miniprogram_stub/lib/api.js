'use strict';
// The HTTP client of the mini-program: base URL, bearer token, WeChat login and binding, and
// one transparent re-login when the server answers 401. The offline queue lives under its own
// storage key, so logging in again never touches what is waiting to be sent.

const { realClock } = require('./retry.js');

const SESSION_KEY = 'hhq.session.v1';
const AUTH_ERRORS = ['auth.required', 'auth.invalid_token', 'auth.token_expired', 'auth.token_revoked'];
const MESSAGES = {
  network: '网络连接失败，请检查网络后重试。',
  server: '服务器暂时无法处理，请稍后重试。',
  unknown: '请求失败，请稍后重试。',
  binding: '请先输入镇扶贫办发放的绑定码，完成微信绑定。',
  wxLogin: '微信登录失败，请稍后重试。',
};

/** An API failure: kind "network" (no answer) or "http" (status, code, Chinese message). */
class ApiError extends Error {
  constructor(fields) {
    super(fields.message || MESSAGES.unknown);
    this.name = 'ApiError';
    this.kind = fields.kind || 'http';
    this.status = fields.status || 0;
    this.code = fields.code || (this.kind === 'network' ? 'network.error' : 'request.failed');
    this.fields = fields.fields || null;
    this.details = fields.details || null;
    this.data = fields.data;
  }

  /** True for a 4xx answer: the server refused the item; sending it again will not help. */
  get isClientError() {
    return this.kind === 'http' && this.status >= 400 && this.status < 500 && this.status !== 429;
  }
}

function encodeQuery(query) {
  const parts = [];
  Object.keys(query || {}).forEach((key) => {
    const value = query[key];
    if (value === undefined || value === null || value === '') return;
    const values = Array.isArray(value) ? value : [value];
    values.forEach((v) => parts.push(encodeURIComponent(key) + '=' + encodeURIComponent(String(v))));
  });
  return parts.join('&');
}

function parseBody(data) {
  if (typeof data !== 'string') return data;
  try {
    return JSON.parse(data);
  } catch (e) {
    return data;
  }
}

/** The ApiError for an HTTP answer of status >= 400, with the server's Chinese message. */
function httpError(status, body) {
  const err = body && typeof body === 'object' && body.error ? body.error : null;
  let message = err && err.message;
  if (!message) message = status >= 500 ? MESSAGES.server : MESSAGES.unknown;
  return new ApiError({
    kind: 'http',
    status,
    code: (err && err.code) || (status >= 500 ? 'server.error' : 'request.failed'),
    message,
    fields: err && err.fields,
    details: err && err.details,
    data: body,
  });
}

function networkError(errMsg) {
  return new ApiError({ kind: 'network', message: MESSAGES.network, details: { errMsg: errMsg || '' } });
}

/**
 * Create a client. Options: wx (the WeChat API object), baseUrl (e.g. https://hhq.example.cn),
 * clock ({now}), timeoutMs, sessionKey.
 */
function createApi(options) {
  const o = options || {};
  const wx = o.wx;
  if (!wx) throw new Error('createApi needs wx');
  const clock = o.clock || realClock;
  const sessionKey = o.sessionKey || SESSION_KEY;
  const timeoutMs = o.timeoutMs || 20000;
  const defaultBase = String(o.baseUrl || '').replace(/\/+$/, '');
  // A developer may point one phone at another server (kept under baseUrlKey).
  const override = o.baseUrlKey ? wx.getStorageSync(o.baseUrlKey) : '';
  let baseUrl = override ? String(override).replace(/\/+$/, '') : defaultBase;
  let reloginPromise = null;
  let bindTicket = null;

  function session() {
    const s = wx.getStorageSync(sessionKey);
    return s && typeof s === 'object' && s.token ? s : null;
  }

  function saveSession(body) {
    const s = { token: body.token, expires_at: body.expires_at || null, user: body.user || null };
    wx.setStorageSync(sessionKey, s);
    return s;
  }

  function clearSession() {
    wx.removeStorageSync(sessionKey);
  }

  function sessionExpired(s) {
    if (!s || !s.expires_at) return false;
    const at = Date.parse(s.expires_at);
    return Number.isFinite(at) && at <= clock.now();
  }

  function url(path, query) {
    const q = encodeQuery(query);
    return baseUrl + '/api/v1' + path + (q ? '?' + q : '');
  }

  function headers(withToken) {
    const h = { Accept: 'application/json' };
    const s = withToken ? session() : null;
    if (s) h.Authorization = 'Bearer ' + s.token;
    return h;
  }

  function sendRequest(req, withToken) {
    return new Promise((resolve, reject) => {
      const header = headers(withToken);
      const call = {
        url: url(req.path, req.query),
        method: req.method || 'GET',
        header,
        timeout: timeoutMs,
        dataType: 'json',
        success: (res) => resolve({ status: res.statusCode, data: parseBody(res.data) }),
        fail: (err) => reject(networkError(err && err.errMsg)),
      };
      if (req.data !== undefined) {
        call.data = req.data;
        header['Content-Type'] = 'application/json';
      }
      wx.request(call);
    });
  }

  function sendUpload(req, withToken) {
    return new Promise((resolve, reject) => {
      wx.uploadFile({
        url: url(req.path),
        filePath: req.filePath,
        name: req.name || 'file',
        formData: req.formData || {},
        header: headers(withToken),
        timeout: timeoutMs,
        success: (res) => resolve({ status: res.statusCode, data: parseBody(res.data) }),
        fail: (err) => reject(networkError(err && err.errMsg)),
      });
    });
  }

  function isAuthFailure(res) {
    if (res.status !== 401) return false;
    const code = res.data && res.data.error && res.data.error.code;
    return !code || AUTH_ERRORS.indexOf(code) >= 0;
  }

  // auth: true (a token is needed: log in again on 401), "optional" (public endpoint: send the
  // token when there is one) or false (never send it).
  async function perform(send, req) {
    const auth = req.auth === undefined ? true : req.auth;
    if (auth === true && (!session() || sessionExpired(session()))) {
      await relogin();
    }
    let res = await send(req, auth !== false);
    if (auth !== false && isAuthFailure(res)) {
      try {
        await relogin();
      } catch (error) {
        if (auth === true) throw error;
        clearSession();
      }
      res = await send(req, auth !== false);
    }
    if (res.status >= 400) throw httpError(res.status, res.data);
    return res;
  }

  /** A JSON request; resolves {status, data}, rejects with ApiError. */
  function request(req) {
    return perform(sendRequest, req);
  }

  /** A multipart upload of one file (wx.uploadFile); resolves {status, data}. */
  function upload(req) {
    return perform(sendUpload, req);
  }

  function wxLogin() {
    return new Promise((resolve, reject) => {
      wx.login({
        success: (res) => (res && res.code ? resolve(res.code) : reject(new ApiError({ code: 'wechat.login_failed', message: MESSAGES.wxLogin }))),
        fail: (err) => reject(new ApiError({ kind: 'network', code: 'wechat.login_failed', message: MESSAGES.wxLogin, details: { errMsg: err && err.errMsg } })),
      });
    });
  }

  /**
   * wx.login, then POST /auth/wechat. Resolves {status: "ok", user} (token stored) or
   * {status: "binding_required", bind_ticket} (ask for the binding code, then bind()).
   */
  async function loginWithWechat() {
    const code = await wxLogin();
    const res = await perform(sendRequest, { method: 'POST', path: '/auth/wechat', data: { code }, auth: false });
    if (res.data.status === 'ok') {
      bindTicket = null;
      saveSession(res.data);
      return { status: 'ok', user: res.data.user };
    }
    bindTicket = res.data.bind_ticket;
    return { status: 'binding_required', bind_ticket: bindTicket };
  }

  /** Bind this WeChat with a one-time binding code and store the token. */
  async function bind(bindingCode, ticket) {
    const t = ticket || bindTicket;
    if (!t) throw new ApiError({ code: 'auth.bind_ticket_invalid', message: '微信绑定已超时，请重新登录。' });
    const res = await perform(sendRequest, {
      method: 'POST',
      path: '/auth/wechat/bind',
      data: { bind_ticket: t, binding_code: String(bindingCode || '').trim() },
      auth: false,
    });
    bindTicket = null;
    saveSession(res.data);
    return { status: 'ok', user: res.data.user };
  }

  /** Log in again after the token expired (one attempt shared by concurrent callers). */
  function relogin() {
    if (!reloginPromise) {
      reloginPromise = loginWithWechat()
        .then((r) => {
          if (r.status !== 'ok') {
            throw new ApiError({ status: 401, code: 'auth.binding_required', message: MESSAGES.binding });
          }
          return r;
        })
        .finally(() => {
          reloginPromise = null;
        });
    }
    return reloginPromise;
  }

  const get = (path, query, extra) => request(Object.assign({ method: 'GET', path, query }, extra)).then((r) => r.data);
  const post = (path, data, extra) => request(Object.assign({ method: 'POST', path, data: data || {} }, extra)).then((r) => r.data);
  const enc = encodeURIComponent;

  return {
    ApiError,
    request,
    upload,
    loginWithWechat,
    bind,
    relogin,
    session,
    saveSession,
    clearSession,
    /** Use another server; with persist (and baseUrlKey) it is remembered; empty restores the default. */
    setBaseUrl: (value, persist) => {
      const clean = String(value || '').trim().replace(/\/+$/, '');
      baseUrl = clean || defaultBase;
      if (persist && o.baseUrlKey) {
        if (clean) wx.setStorageSync(o.baseUrlKey, clean);
        else wx.removeStorageSync(o.baseUrlKey);
      }
    },
    get baseUrl() {
      return baseUrl;
    },
    get,
    post,
    // --- the endpoints the pages use ---
    me: () => get('/auth/me'),
    myHouseholds: () => get('/assignments/mine'),
    myVisits: (query) => get('/visits', query),
    scan: (token) => get('/scan/' + enc(token), null, { auth: 'optional' }),
    visitFormByToken: (token) => get('/scan/' + enc(token) + '/visit-form'),
    visitFormByHousehold: (id) => get('/households/' + enc(id) + '/visit-form'),
    uploadPhoto: (p) =>
      upload({
        path: '/photos',
        filePath: p.filePath,
        formData: clean({
          client_uuid: p.client_uuid,
          purpose: p.purpose,
          visit_client_uuid: p.visit_client_uuid,
          household_id: p.household_id,
        }),
      }),
    photo: (id) => get('/photos/' + enc(id)),
    submitVisit: (body) => request({ method: 'POST', path: '/visits', data: body }),
    syncVisits: (bodies) => post('/sync/visits', { visits: bodies }),
    problems: (query) => get('/problems', query),
    problem: (id) => get('/problems/' + enc(id)),
    transition: (id, body) => post('/problems/' + enc(id) + '/transitions', body),
    reportAreas: () => get('/reports/areas', null, { auth: false }),
    uploadReportPhoto: (p) =>
      upload({
        path: '/reports/photos',
        filePath: p.filePath,
        formData: clean({ card_token: p.card_token, client_uuid: p.client_uuid }),
        auth: false,
      }),
    submitReport: (body) => request({ method: 'POST', path: '/reports', data: body, auth: false }),
    reportStatus: (code) => get('/reports/' + enc(code), null, { auth: false }),
  };
}

function clean(obj) {
  const out = {};
  Object.keys(obj).forEach((k) => {
    if (obj[k] !== undefined && obj[k] !== null && obj[k] !== '') out[k] = String(obj[k]);
  });
  return out;
}

module.exports = { createApi, ApiError, encodeQuery, httpError, SESSION_KEY, MESSAGES };
