'use strict';
// One visit on the phone, from the prefilled form to the queue. The client_uuid is made when
// the visit is opened; each photo is queued (with its own client_uuid) the moment it is taken
// and referenced in its photo slot by that uuid, so the visit can be finished offline.

const form = require('./form.js');
const { gpsPayload } = require('./gps.js');
const { realClock } = require('./retry.js');

const FORM_CACHE_KEY = 'hhq.visitforms.v1';
const FORM_CACHE_SIZE = 60;

/** Keep a fetched visit form for offline use (the helper may lose signal at the door). */
function cacheVisitForm(wx, visitForm, meta) {
  const cache = wx.getStorageSync(FORM_CACHE_KEY) || {};
  const id = String(visitForm.household.id);
  cache[id] = Object.assign({ form: visitForm, cached_at: Date.now() }, meta || {});
  const ids = Object.keys(cache).sort((a, b) => cache[b].cached_at - cache[a].cached_at);
  ids.slice(FORM_CACHE_SIZE).forEach((old) => delete cache[old]);
  wx.setStorageSync(FORM_CACHE_KEY, cache);
  return cache[id];
}

/** A cached visit form of a household, or null. */
function cachedVisitForm(wx, householdId) {
  const cache = wx.getStorageSync(FORM_CACHE_KEY) || {};
  const hit = cache[String(householdId)];
  return hit ? hit.form : null;
}

function iso(clock) {
  return new Date(clock.now()).toISOString();
}

/**
 * Open a visit from a visit form (GET …/visit-form). Options: queue, clock, label.
 * Returns the session the visit page drives.
 */
function startVisit(visitForm, options) {
  const o = options || {};
  const queue = o.queue;
  const clock = o.clock || realClock;
  if (!queue) throw new Error('startVisit needs the queue');
  const definition = visitForm.form.definition;
  const members = visitForm.members || [];
  const household = visitForm.household || {};
  const clientUuid = o.client_uuid || queue.newId();
  const startedAt = o.started_at || iso(clock);
  let answers = form.prefillAnswers(visitForm.prefill);
  let gps = null;
  const labels = form.questionLabels(definition);
  const label = o.label || [household.village_name, household.group_name, household.head_name].filter(Boolean).join(' ');

  function opts() {
    return { members, visitDate: form.chinaDate(clock.now()), settings: o.settings };
  }

  const session = {
    client_uuid: clientUuid,
    household_id: household.id,
    started_at: startedAt,
    definition,
    members,
    labels,
    label,
    get answers() {
      return answers;
    },
    get gps() {
      return gps;
    },
    /** Set one answer (per member when memberId is given); undefined clears it. */
    setAnswer(key, value, memberId) {
      answers = form.setAnswer(answers, key, value, memberId);
      return session.model();
    },
    /** Queue a photo taken for a photo slot (e.g. photo_house) and reference it in the answers. */
    addPhoto(slot, filePath) {
      const item = queue.addPhoto({
        filePath,
        purpose: form.photoPurpose(slot),
        visit_client_uuid: clientUuid,
        household_id: household.id,
        slot,
      });
      const list = Array.isArray(answers[slot]) ? answers[slot].slice() : [];
      if (list.indexOf(item.client_uuid) < 0) list.push(item.client_uuid);
      answers = form.setAnswer(answers, slot, list);
      return item;
    },
    /** Drop a photo from its slot and from the queue. */
    removePhoto(slot, photoUuid) {
      const list = (Array.isArray(answers[slot]) ? answers[slot] : []).filter((u) => u !== photoUuid);
      answers = form.setAnswer(answers, slot, list.length ? list : undefined);
      queue.removePhoto(photoUuid);
    },
    setGps(fix) {
      gps = fix || null;
    },
    /**
     * The render model with required-if, errors and the failing checks. It is built on the
     * answers that would be sent: an answer left behind on a question that a later change
     * hid is dropped, not shown as an error the helper cannot see.
     */
    model() {
      return form.buildModel(definition, form.submittableAnswers(definition, answers, opts()), opts());
    },
    /** The body for POST /sync/visits, ended now (or at endedAt). */
    body(endedAt) {
      const body = {
        client_uuid: clientUuid,
        household_id: household.id,
        form_version: visitForm.form.version,
        answers: form.submittableAnswers(definition, answers, opts()),
        started_at: startedAt,
        ended_at: endedAt || iso(clock),
        photo_ids: [],
      };
      const g = gpsPayload(gps);
      if (g) body.gps = g;
      return body;
    },
    /**
     * Finish: when the form is complete, queue the visit and resolve {ok: true, body, failing};
     * otherwise {ok: false, model} with the errors to show. Failing checks do not block: they
     * are what the visit is for, and the server opens their problems.
     */
    finish(endedAt) {
      const model = session.model();
      if (!model.valid) return { ok: false, model };
      const body = session.body(endedAt);
      queue.addVisit(body, { label, household_id: household.id });
      return { ok: true, body, failing: model.failing, model };
    },
    /** Give the visit up: its photos leave the queue. */
    abandon() {
      queue.photosOf(clientUuid).forEach((p) => queue.removePhoto(p.client_uuid));
    },
  };
  return session;
}

module.exports = { startVisit, cacheVisitForm, cachedVisitForm, FORM_CACHE_KEY };
