'use strict';
// The offline queue. Every visit and photo gets its client_uuid when it is made and keeps it
// for every retry. Items live in wx storage (they survive an app restart); photos are saved
// files until their visit is accepted. Flushing uploads photos one request each, then sends
// the visits in batches to POST /sync/visits:
//   created / duplicate      -> done, removed (a duplicate is an earlier send whose answer was lost)
//   conflict / invalid (4xx) -> held: kept and shown with the server's Chinese message, never
//                               retried by itself (the helper fixes, resubmits or discards it)
//   5xx / network failure    -> retried later with exponential backoff and jitter
// A 410 card.replaced is held too and announced with a "card_replaced" event.

const { backoffDelay, realClock } = require('./retry.js');
const { uuid4 } = require('./uuid.js');

const QUEUE_KEY = 'hhq.queue.v1';
const SENT_KEY = 'hhq.queue.sent.v1';
const SENT_KEEP = 100;
const MESSAGES = {
  photoHeld: '有照片未能上传，请重拍或删除该照片后再提交。',
  cardReplaced: '此二维码已作废，请使用新换发的明白卡。',
  waiting: '网络不好，稍后自动重试。',
};

function nowIso(clock) {
  return new Date(clock.now()).toISOString();
}

/**
 * Options: wx, api (lib/api.js client), clock {now}, random, batchSize (<= 200), baseMs, maxMs,
 * timers ({setTimeout, clearTimeout} or null to schedule nothing), storageKey.
 */
function createQueue(options) {
  const o = options || {};
  const wx = o.wx;
  const api = o.api;
  if (!wx || !api) throw new Error('createQueue needs wx and api');
  const clock = o.clock || realClock;
  const random = o.random || Math.random;
  const key = o.storageKey || QUEUE_KEY;
  const sentKey = o.sentKey || SENT_KEY;
  const batchSize = Math.min(200, o.batchSize || 200);
  const backoff = { baseMs: o.baseMs || 2000, maxMs: o.maxMs || 10 * 60 * 1000, random };
  const timers = o.timers === undefined ? { setTimeout, clearTimeout } : o.timers;
  const listeners = {};
  let items = load();
  let online = true;
  let running = null;
  let again = false;
  let timer = null;
  let started = false;

  function load() {
    const doc = wx.getStorageSync(key);
    return doc && Array.isArray(doc.items) ? doc.items : [];
  }

  function save() {
    wx.setStorageSync(key, { version: 1, items });
    emit('change', snapshot());
  }

  function on(event, fn) {
    (listeners[event] = listeners[event] || []).push(fn);
    return () => {
      listeners[event] = (listeners[event] || []).filter((f) => f !== fn);
    };
  }

  function emit(event, payload) {
    (listeners[event] || []).slice().forEach((fn) => {
      try {
        fn(payload);
      } catch (e) {
        // A page's listener must not break the queue.
      }
    });
  }

  function copy(value) {
    return JSON.parse(JSON.stringify(value));
  }

  function snapshot() {
    return copy(items);
  }

  function find(id) {
    return items.find((it) => it.id === id) || null;
  }

  function photosOf(visitUuid) {
    return items.filter((it) => it.kind === 'photo' && it.visit_client_uuid === visitUuid);
  }

  function persistFile(path) {
    if (o.persistFile) return o.persistFile(path);
    // Temporary files of wx.chooseMedia are gone after a restart: keep a saved copy.
    const fs = typeof wx.getFileSystemManager === 'function' ? wx.getFileSystemManager() : null;
    if (fs && typeof fs.saveFileSync === 'function') {
      try {
        return fs.saveFileSync(path);
      } catch (e) {
        return path;
      }
    }
    return path;
  }

  function removeFile(path) {
    if (o.removeFile) return o.removeFile(path);
    const fs = typeof wx.getFileSystemManager === 'function' ? wx.getFileSystemManager() : null;
    if (fs && typeof fs.removeSavedFile === 'function') {
      try {
        fs.removeSavedFile({ filePath: path });
      } catch (e) {
        // Already gone.
      }
    }
    return undefined;
  }

  /** A new client_uuid (for a visit opened on the phone). */
  function newId() {
    return uuid4(o.randomBytes);
  }

  /** Queue one photo of a visit; resolves to the item (its client_uuid goes in the answers). */
  function addPhoto(p) {
    if (!p || !p.filePath) throw new Error('addPhoto needs filePath');
    const id = p.client_uuid || newId();
    if (find(id)) return copy(find(id));
    const item = {
      id,
      kind: 'photo',
      client_uuid: id,
      file_path: persistFile(p.filePath),
      purpose: p.purpose || 'other',
      visit_client_uuid: p.visit_client_uuid || null,
      household_id: p.household_id || null,
      slot: p.slot || null,
      state: 'pending',
      attempts: 0,
      next_at: 0,
      photo_id: null,
      error: null,
      created_at: nowIso(clock),
    };
    items.push(item);
    save();
    return copy(item);
  }

  /** Drop one photo that is not yet part of an accepted visit. */
  function removePhoto(id) {
    const item = find(id);
    if (!item || item.kind !== 'photo') return false;
    items = items.filter((it) => it !== item);
    removeFile(item.file_path);
    save();
    return true;
  }

  /**
   * Queue a visit body exactly as POST /sync/visits takes it (client_uuid, household_id or
   * card_token, form_version, answers, started_at, ended_at, gps, photo_ids). A body with the
   * client_uuid of a queued item replaces it (an edit of a held visit).
   */
  function addVisit(body, meta) {
    if (!body || !body.client_uuid) throw new Error('a visit body needs its client_uuid');
    const m = meta || {};
    const existing = find(body.client_uuid);
    const item = existing || { id: body.client_uuid, kind: 'visit', client_uuid: body.client_uuid, created_at: nowIso(clock) };
    Object.assign(item, {
      body: copy(body),
      label: m.label || item.label || '',
      household_id: body.household_id || m.household_id || item.household_id || null,
      state: 'pending',
      attempts: 0,
      next_at: 0,
      error: null,
      card_replaced: false,
    });
    if (!existing) items.push(item);
    save();
    return copy(item);
  }

  function hold(item, error, extra) {
    item.state = 'held';
    item.next_at = 0;
    item.error = {
      kind: 'http',
      status: error.status || 0,
      code: error.code || 'request.failed',
      message: error.message || '',
      fields: error.fields || null,
      details: error.details || null,
    };
    Object.assign(item, extra || {});
    emit('held', copy(item));
    if (item.card_replaced) emit('card_replaced', copy(item));
  }

  function delay(item, error) {
    item.attempts = (item.attempts || 0) + 1;
    item.next_at = clock.now() + backoffDelay(item.attempts - 1, backoff);
    item.error = { kind: error.kind || 'http', status: error.status || 0, code: error.code || '', message: MESSAGES.waiting, reason: error.message || '' };
  }

  function due(item, now) {
    return item.state === 'pending' && (!item.next_at || item.next_at <= now);
  }

  function recordSent(entries) {
    if (!entries.length) return;
    const list = (wx.getStorageSync(sentKey) || []).concat(entries);
    wx.setStorageSync(sentKey, list.slice(-SENT_KEEP));
  }

  /** Visits accepted by the server lately (newest last): {client_uuid, status, visit_id, ...}. */
  function sent() {
    return wx.getStorageSync(sentKey) || [];
  }

  function isAuthStop(error) {
    // Re-login failed (e.g. the WeChat is not bound yet): keep everything, try after login.
    return error && error.status === 401;
  }

  async function uploadPhotos(summary) {
    const now = clock.now();
    for (const item of items.filter((it) => it.kind === 'photo' && due(it, now))) {
      try {
        const res = await api.uploadPhoto({
          filePath: item.file_path,
          client_uuid: item.client_uuid,
          purpose: item.purpose,
          visit_client_uuid: item.visit_client_uuid,
          household_id: item.household_id,
        });
        item.state = 'uploaded';
        item.photo_id = res.data && res.data.id;
        item.error = null;
        summary.photos.uploaded += 1;
      } catch (error) {
        if (isAuthStop(error)) {
          summary.stopped = error;
          save();
          return false;
        }
        if (error.isClientError) {
          hold(item, error);
          summary.photos.held += 1;
        } else {
          delay(item, error);
          summary.photos.retry += 1;
          if (error.kind === 'network') {
            save();
            return false;
          }
        }
      }
      save();
    }
    return true;
  }

  function readyVisits(now) {
    const ready = [];
    items.forEach((it) => {
      if (it.kind !== 'visit' || !due(it, now)) return;
      const photos = photosOf(it.client_uuid);
      if (photos.some((p) => p.state === 'held')) {
        it.error = { kind: 'blocked', code: 'photo.held', message: MESSAGES.photoHeld };
        return;
      }
      if (photos.every((p) => p.state === 'uploaded')) ready.push(it);
    });
    return ready;
  }

  function finishVisit(item, result) {
    photosOf(item.client_uuid).forEach((p) => removeFile(p.file_path));
    items = items.filter((it) => it !== item && !(it.kind === 'photo' && it.visit_client_uuid === item.client_uuid));
    return {
      client_uuid: item.client_uuid,
      status: result.status,
      visit_id: result.visit_id,
      household_id: item.household_id,
      label: item.label,
      at: nowIso(clock),
    };
  }

  async function sendVisits(summary) {
    const ready = readyVisits(clock.now());
    for (let i = 0; i < ready.length; i += batchSize) {
      const batch = ready.slice(i, i + batchSize);
      let data;
      try {
        // device_sent_at tells the server how far the phone's clock is off; it is not part of
        // the body's identity, so a replay with a later one is still a duplicate.
        const sentAt = nowIso(clock);
        data = await api.syncVisits(batch.map((it) => Object.assign({}, it.body, { device_sent_at: sentAt })));
      } catch (error) {
        if (isAuthStop(error)) {
          summary.stopped = error;
          save();
          return;
        }
        batch.forEach((it) => (error.isClientError ? hold(it, error) : delay(it, error)));
        summary.visits[error.isClientError ? 'held' : 'retry'] += batch.length;
        save();
        if (!error.isClientError) return;
        continue;
      }
      const results = (data && data.results) || [];
      const done = [];
      batch.forEach((item, index) => {
        const result = results[index];
        if (!result || (result.client_uuid && result.client_uuid !== item.client_uuid)) {
          delay(item, { kind: 'http', status: 500, message: '服务器回复不完整。' });
          summary.visits.retry += 1;
          return;
        }
        summary.results.push({ client_uuid: item.client_uuid, status: result.status, visit_id: result.visit_id, error: result.error || null });
        if (result.status === 'created' || result.status === 'duplicate') {
          summary.visits[result.status] += 1;
          done.push(finishVisit(item, result));
          return;
        }
        const error = result.error || {};
        const replaced = error.code === 'card.replaced';
        hold(
          item,
          {
            status: result.status === 'conflict' ? 409 : replaced ? 410 : 422,
            code: error.code,
            message: error.message || (replaced ? MESSAGES.cardReplaced : ''),
            fields: error.fields,
            details: error.details,
          },
          { card_replaced: replaced }
        );
        summary.visits[result.status === 'conflict' ? 'conflict' : 'invalid'] += 1;
      });
      recordSent(done);
      save();
    }
  }

  function emptySummary() {
    return {
      online,
      photos: { uploaded: 0, held: 0, retry: 0 },
      visits: { created: 0, duplicate: 0, conflict: 0, invalid: 0, held: 0, retry: 0 },
      results: [],
      stopped: null,
    };
  }

  async function flushOnce(summary) {
    if (!online) return;
    if ((await uploadPhotos(summary)) && !summary.stopped) await sendVisits(summary);
  }

  /** Send what is due now; concurrent calls share one run. Resolves a summary of this run. */
  function flush() {
    if (running) {
      again = true;
      return running;
    }
    const summary = emptySummary();
    running = (async () => {
      do {
        again = false;
        await flushOnce(summary);
      } while (again && online && !summary.stopped);
      emit('flushed', summary);
      schedule();
      return summary;
    })().finally(() => {
      running = null;
    });
    return running;
  }

  function schedule() {
    if (!timers) return;
    if (timer) timers.clearTimeout(timer);
    timer = null;
    const next = nextDueAt();
    if (next === null || !online) return;
    timer = timers.setTimeout(() => {
      timer = null;
      flush();
    }, Math.max(0, next - clock.now()));
  }

  /** When the next backed-off item becomes due (ms since the epoch), or null. */
  function nextDueAt() {
    const times = items.filter((it) => it.state === 'pending' && it.next_at).map((it) => it.next_at);
    return times.length ? Math.min.apply(null, times) : null;
  }

  /** Tell the queue whether the phone is online; coming back online flushes at once. */
  function setOnline(value) {
    online = !!value;
    if (online) {
      // What failed for want of a network may go now rather than after its backoff.
      let changed = false;
      items.forEach((it) => {
        if (it.state === 'pending' && it.next_at && it.error && it.error.kind === 'network') {
          it.next_at = 0;
          changed = true;
        }
      });
      if (changed) save();
    }
    if (online) return flush();
    if (timers && timer) {
      timers.clearTimeout(timer);
      timer = null;
    }
    return Promise.resolve(null);
  }

  /** Follow wx network events (once per queue). */
  function start() {
    if (started) return;
    started = true;
    if (typeof wx.onNetworkStatusChange === 'function') {
      wx.onNetworkStatusChange((res) => setOnline(!!(res && res.isConnected)));
    }
    if (typeof wx.getNetworkType === 'function') {
      wx.getNetworkType({
        success: (res) => setOnline(res && res.networkType !== 'none'),
      });
    }
  }

  /** Send a held item again unchanged (after the cause was fixed on the server side). */
  function retryItem(id) {
    const item = find(id);
    if (!item) return false;
    item.state = 'pending';
    item.next_at = 0;
    item.attempts = 0;
    item.error = null;
    item.card_replaced = false;
    save();
    return true;
  }

  /** Send a held visit again as a new visit (a fresh client_uuid); for a conflict. */
  function resubmitAsNew(id) {
    const item = find(id);
    if (!item || item.kind !== 'visit') return null;
    const fresh = newId();
    photosOf(item.client_uuid).forEach((p) => {
      p.visit_client_uuid = fresh;
    });
    item.id = fresh;
    item.client_uuid = fresh;
    item.body = Object.assign({}, item.body, { client_uuid: fresh });
    item.state = 'pending';
    item.next_at = 0;
    item.attempts = 0;
    item.error = null;
    save();
    return fresh;
  }

  /** Remove an item (a visit takes its photos with it). */
  function discard(id) {
    const item = find(id);
    if (!item) return false;
    const gone = item.kind === 'visit' ? [item].concat(photosOf(item.client_uuid)) : [item];
    gone.filter((it) => it.kind === 'photo').forEach((p) => removeFile(p.file_path));
    items = items.filter((it) => gone.indexOf(it) < 0);
    save();
    return true;
  }

  /** Counts for badges: pending visits and photos, held items. */
  function counts() {
    const c = { visits: 0, photos: 0, held: 0 };
    items.forEach((it) => {
      if (it.state === 'held') c.held += 1;
      else if (it.kind === 'visit') c.visits += 1;
      else if (it.state !== 'uploaded') c.photos += 1;
    });
    return c;
  }

  return {
    newId,
    addPhoto,
    removePhoto,
    addVisit,
    flush,
    start,
    setOnline,
    retryItem,
    resubmitAsNew,
    discard,
    counts,
    nextDueAt,
    sent,
    on,
    items: snapshot,
    held: () => copy(items.filter((it) => it.state === 'held')),
    photosOf: (visitUuid) => copy(photosOf(visitUuid)),
    reload: () => {
      items = load();
      return snapshot();
    },
    get online() {
      return online;
    },
  };
}

/** One line for the helper: the server's Chinese message and the first field messages. */
function describeError(error, labels) {
  if (!error) return '';
  const parts = [error.message || ''];
  const groups = error.fields || {};
  Object.keys(groups).forEach((group) => {
    const fields = groups[group] || {};
    Object.keys(fields).forEach((name) => {
      const msgs = Array.isArray(fields[name]) ? fields[name] : [fields[name]];
      const base = String(name).split('.')[0];
      const label = (labels && labels[base]) || name;
      msgs.forEach((m) => {
        if (typeof m === 'string') parts.push(label + '：' + m);
      });
    });
  });
  return parts.filter(Boolean).join('；');
}

module.exports = { createQueue, describeError, QUEUE_KEY, SENT_KEY, MESSAGES };
