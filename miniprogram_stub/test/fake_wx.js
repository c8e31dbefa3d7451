'use strict';
// A fake of the WeChat mini-program API (the parts the app uses), for Node's test runner.
// Storage is a JSON round-trip like wx's; requests go to a handler (unit tests) or over real
// HTTP with fetch (the live integration test); the network can be switched off, events fire
// like wx.onNetworkStatusChange; scanCode, getLocation, chooseMedia and login are scripted.

const path = require('node:path');

function later(fn) {
  setImmediate(fn);
}

function parseUrl(url) {
  const u = new URL(url);
  const query = {};
  u.searchParams.forEach((v, k) => {
    if (k in query) query[k] = [].concat(query[k], v);
    else query[k] = v;
  });
  return { origin: u.origin, path: u.pathname, query };
}

/**
 * Options: handler(req) -> {statusCode, data} | Promise (unit tests; throw or return
 * {fail: "errMsg"} for a network failure), or http: true (real requests with fetch); name (the
 * WeChat user for wx.login codes "dev-<name>~<n>"); location; online (default true).
 */
function createFakeWx(options) {
  const o = options || {};
  const storage = new Map();
  const files = new Map();
  const networkListeners = [];
  const scans = [];
  const media = [];
  const calls = [];
  const toasts = [];
  const drops = [];
  const navigations = [];
  let online = o.online === undefined ? true : !!o.online;
  let loginCount = o.loginStart || 0;
  let fileSeq = 0;
  let location = o.location || null;
  let locationError = null;
  let loginError = null;

  function store(key, value) {
    // wx storage keeps a serialised copy, never the caller's object.
    storage.set(key, value === undefined ? undefined : JSON.parse(JSON.stringify(value)));
  }

  function read(key) {
    if (!storage.has(key)) return '';
    const value = storage.get(key);
    return value === undefined ? '' : JSON.parse(JSON.stringify(value));
  }

  async function dispatch(req) {
    if (!online) return { fail: (req.kind === 'upload' ? 'uploadFile' : 'request') + ':fail network unavailable' };
    let res;
    if (o.http) res = await httpCall(req);
    else if (o.handler) res = await o.handler(req);
    else throw new Error('fake wx has no handler');
    const drop = drops.findIndex((match) => match(req));
    if (drop >= 0 && !res.fail) {
      // The server did the work but the answer never reached the phone.
      drops.splice(drop, 1);
      return { fail: 'request:fail timeout (answer lost)' };
    }
    return res;
  }

  async function httpCall(req) {
    let response;
    try {
      if (req.kind === 'upload') {
        const form = new FormData();
        Object.keys(req.formData || {}).forEach((k) => form.append(k, String(req.formData[k])));
        form.append(req.name, new Blob([req.file.bytes]), req.file.filename);
        response = await fetch(req.url, { method: 'POST', headers: req.header, body: form });
      } else {
        const init = { method: req.method, headers: req.header };
        if (req.data !== undefined && req.method !== 'GET') init.body = typeof req.data === 'string' ? req.data : JSON.stringify(req.data);
        response = await fetch(req.url, init);
      }
    } catch (e) {
      return { fail: 'request:fail ' + e.message };
    }
    const text = await response.text();
    let data = text;
    if (req.kind !== 'upload') {
      try {
        data = JSON.parse(text);
      } catch (e) {
        data = text;
      }
    }
    const header = {};
    response.headers.forEach((v, k) => {
      header[k] = v;
    });
    return { statusCode: response.status, data, header };
  }

  function finish(res, opts, prefix) {
    later(() => {
      if (res && res.fail) {
        if (opts.fail) opts.fail({ errMsg: res.fail });
      } else if (opts.success) {
        opts.success(Object.assign({ errMsg: prefix + ':ok' }, res));
      }
      if (opts.complete) opts.complete(res);
    });
  }

  const wx = {
    // --- storage ---
    setStorageSync: (key, value) => store(key, value),
    getStorageSync: (key) => read(key),
    removeStorageSync: (key) => storage.delete(key),
    clearStorageSync: () => storage.clear(),
    setStorage: (opts) => {
      store(opts.key, opts.data);
      later(() => opts.success && opts.success({ errMsg: 'setStorage:ok' }));
    },
    getStorage: (opts) => {
      later(() => {
        if (storage.has(opts.key)) opts.success && opts.success({ data: read(opts.key), errMsg: 'getStorage:ok' });
        else opts.fail && opts.fail({ errMsg: 'getStorage:fail data not found' });
      });
    },

    // --- network ---
    request: (opts) => {
      const u = parseUrl(opts.url);
      const req = { kind: 'request', url: opts.url, path: u.path, query: u.query, method: opts.method || 'GET', data: opts.data, header: opts.header || {} };
      calls.push(req);
      dispatch(req).then(
        (res) => finish(res, opts, 'request'),
        (e) => finish({ fail: 'request:fail ' + e.message }, opts, 'request')
      );
      return { abort() {} };
    },
    uploadFile: (opts) => {
      const u = parseUrl(opts.url);
      const bytes = files.get(opts.filePath);
      const req = {
        kind: 'upload',
        url: opts.url,
        path: u.path,
        query: u.query,
        method: 'POST',
        header: opts.header || {},
        name: opts.name,
        formData: opts.formData || {},
        file: bytes ? { filename: path.basename(opts.filePath), bytes } : null,
      };
      calls.push(req);
      if (!bytes) {
        finish({ fail: 'uploadFile:fail file not found' }, opts, 'uploadFile');
        return { abort() {}, onProgressUpdate() {} };
      }
      dispatch(req).then(
        (res) => {
          // wx.uploadFile hands the body over as a string.
          if (res && !res.fail && typeof res.data !== 'string') res = Object.assign({}, res, { data: JSON.stringify(res.data) });
          finish(res, opts, 'uploadFile');
        },
        (e) => finish({ fail: 'uploadFile:fail ' + e.message }, opts, 'uploadFile')
      );
      return { abort() {}, onProgressUpdate() {} };
    },
    onNetworkStatusChange: (fn) => networkListeners.push(fn),
    offNetworkStatusChange: (fn) => {
      const i = networkListeners.indexOf(fn);
      if (i >= 0) networkListeners.splice(i, 1);
    },
    getNetworkType: (opts) => later(() => opts.success && opts.success({ networkType: online ? 'wifi' : 'none' })),

    // --- login, scan, location, media, files ---
    login: (opts) => {
      later(() => {
        if (loginError) {
          opts.fail && opts.fail({ errMsg: loginError });
          return;
        }
        loginCount += 1;
        opts.success && opts.success({ code: 'dev-' + (o.name || 'tester') + '~' + loginCount, errMsg: 'login:ok' });
      });
    },
    scanCode: (opts) => {
      const next = scans.shift();
      later(() => {
        if (!next || next.fail) opts.fail && opts.fail({ errMsg: (next && next.fail) || 'scanCode:fail cancel' });
        else opts.success && opts.success(Object.assign({ errMsg: 'scanCode:ok', charSet: 'utf-8' }, next));
      });
    },
    getLocation: (opts) => {
      calls.push({ kind: 'getLocation', type: opts.type, isHighAccuracy: opts.isHighAccuracy });
      later(() => {
        if (locationError || !location) opts.fail && opts.fail({ errMsg: locationError || 'getLocation:fail' });
        else opts.success && opts.success(Object.assign({ errMsg: 'getLocation:ok', speed: 0, verticalAccuracy: 0 }, location));
      });
    },
    chooseMedia: (opts) => {
      calls.push({ kind: 'chooseMedia', sourceType: opts.sourceType, sizeType: opts.sizeType, mediaType: opts.mediaType });
      const next = media.shift();
      later(() => {
        if (!next) {
          opts.fail && opts.fail({ errMsg: 'chooseMedia:fail cancel' });
          return;
        }
        const tempFiles = next.map((bytes) => {
          fileSeq += 1;
          const p = 'http://tmp/photo-' + fileSeq + '.png';
          files.set(p, Buffer.from(bytes));
          return { tempFilePath: p, size: bytes.length, fileType: 'image' };
        });
        opts.success && opts.success({ tempFiles, type: 'image', errMsg: 'chooseMedia:ok' });
      });
    },
    getFileSystemManager: () => ({
      saveFileSync: (tempFilePath) => {
        if (!files.has(tempFilePath)) throw new Error('saveFileSync:fail no such file');
        fileSeq += 1;
        const saved = 'wxfile://store/' + fileSeq + '-' + path.basename(tempFilePath);
        files.set(saved, files.get(tempFilePath));
        return saved;
      },
      removeSavedFile: (opts) => {
        files.delete(opts.filePath);
        if (opts.success) later(() => opts.success({ errMsg: 'removeSavedFile:ok' }));
      },
    }),
    showToast: (opts) => toasts.push(Object.assign({ kind: 'toast' }, opts)),
    showModal: (opts) => {
      toasts.push(Object.assign({ kind: 'modal' }, opts));
      later(() => opts.success && opts.success({ confirm: true, cancel: false }));
    },
    showLoading: () => {},
    hideLoading: () => {},
    navigateTo: (opts) => navigations.push({ kind: 'navigateTo', url: opts.url }),
    redirectTo: (opts) => navigations.push({ kind: 'redirectTo', url: opts.url }),
    reLaunch: (opts) => navigations.push({ kind: 'reLaunch', url: opts.url }),
    navigateBack: () => navigations.push({ kind: 'navigateBack' }),
    stopPullDownRefresh: () => {},
  };

  // Controls for tests (not part of wx).
  const control = {
    wx,
    storage,
    files,
    calls,
    toasts,
    navigations,
    /** Switch the network and fire wx.onNetworkStatusChange like a phone does. */
    setNetwork(isConnected) {
      online = !!isConnected;
      networkListeners.slice().forEach((fn) => fn({ isConnected: online, networkType: online ? 'wifi' : 'none' }));
    },
    get online() {
      return online;
    },
    /** Put a file on the fake disk (e.g. a photo the camera took); returns its path. */
    addFile(bytes, name) {
      fileSeq += 1;
      const p = 'http://tmp/' + (name || 'file-' + fileSeq + '.png');
      files.set(p, Buffer.from(bytes));
      return p;
    },
    queueScan(result) {
      scans.push(result);
    },
    queueMedia(list) {
      media.push(list);
    },
    setLocation(loc) {
      location = loc;
      locationError = null;
    },
    failLocation(errMsg) {
      locationError = errMsg;
    },
    failLogin(errMsg) {
      loginError = errMsg;
    },
    /** Lose the answer of the next request matching ``match(req)`` (the server still acts). */
    dropNextResponse(match) {
      drops.push(match);
    },
    get loginCount() {
      return loginCount;
    },
    /** A fresh fake wx sharing this one's storage and files: the app restarted. */
    restart() {
      // wx.login codes are single-use: the restarted app goes on counting.
      const next = createFakeWx(Object.assign({}, o, { online, loginStart: loginCount }));
      storage.forEach((v, k) => next.storage.set(k, v));
      files.forEach((v, k) => next.files.set(k, v));
      return next;
    },
  };
  return control;
}

/** A handler from a route table: {"POST /api/v1/photos": (req) => ({statusCode, data})}. */
function router(routes, fallback) {
  return async (req) => {
    const key = req.method + ' ' + req.path;
    for (const pattern of Object.keys(routes)) {
      const [method, p] = pattern.split(' ');
      if (method !== req.method) continue;
      const re = new RegExp('^' + p.replace(/<[^>]+>/g, '([^/]+)') + '$');
      const m = re.exec(req.path);
      if (m) return routes[pattern](req, ...m.slice(1).map(decodeURIComponent));
    }
    if (fallback) return fallback(req);
    return { statusCode: 404, data: { error: { code: 'request.not_found', message: '请求的地址不存在。' } }, key };
  };
}

module.exports = { createFakeWx, router };
