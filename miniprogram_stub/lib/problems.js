'use strict';
// "My problems" for office users (责任单位): the list, the actions the server allows, and
// rectification with evidence photos (uploaded one by one with retry, then named in the
// transition).

const { retry } = require('./retry.js');
const { uuid4 } = require('./uuid.js');

const ACTION_LABELS = {
  accept: '受理',
  submit_review: '报镇审核',
  assign: '交办',
  reassign: '改派',
  start: '开始整改',
  rectify: '整改完成',
  verify: '核验通过',
  return: '核验不通过',
  close: '销号',
  reject: '不予受理',
  merge: '合并',
  reopen: '重新打开',
};
// What each action needs from the person; the server checks again.
const NEEDS = {
  rectify: { note: true, photos: true },
  submit_review: { note: true },
  reassign: { note: true, office: true },
  assign: { office: true },
  return: { note: true },
  reject: { note: true },
  reopen: { note: true },
  merge: { target: true },
};
const MESSAGES = {
  evidence: '整改完成须附整改照片和说明。',
  note: '请填写说明。',
};

/** The actions a problem offers the caller, with Chinese labels and what each needs. */
function actionsOf(problem) {
  return ((problem && problem.allowed_actions) || []).map((name) => ({
    name,
    label: ACTION_LABELS[name] || name,
    needs: NEEDS[name] || {},
  }));
}

/** A problem list row for the page. */
function listRow(p) {
  return {
    id: p.id,
    title: p.title,
    household: [p.village && p.village.name, p.head_name].filter(Boolean).join(' '),
    office_name: p.office_name,
    area_label: p.area_label,
    status_label: p.status_label,
    deadline_at: p.deadline_at,
    overdue: !!p.overdue,
    actions: actionsOf(p),
  };
}

/** Problems of the caller's office (the server scopes the list), open ones first. */
async function loadProblems(api, query) {
  const page = await api.problems(Object.assign({ page_size: 100 }, query || {}));
  return { total: page.total, rows: (page.items || []).map(listRow) };
}

/** Whether the input is enough for the action; a Chinese message when not. */
function checkInput(action, input) {
  const needs = NEEDS[action] || {};
  const i = input || {};
  if (needs.photos && !(i.filePaths && i.filePaths.length) && !(i.photo_ids && i.photo_ids.length)) return MESSAGES.evidence;
  if (needs.note && !String(i.note || '').trim()) return needs.photos ? MESSAGES.evidence : MESSAGES.note;
  return null;
}

/**
 * Upload evidence photos (purpose "evidence"), each with its own client_uuid kept across
 * retries, so a retry after a lost answer returns the same photo.
 */
async function uploadEvidence(api, filePaths, options) {
  const o = options || {};
  const ids = [];
  for (const filePath of filePaths || []) {
    const clientUuid = uuid4(o.randomBytes);
    const res = await retry(
      () => api.uploadPhoto({ filePath, client_uuid: clientUuid, purpose: 'evidence', household_id: o.household_id }),
      { clock: o.clock, retries: o.retries === undefined ? 4 : o.retries, random: o.random }
    );
    ids.push(res.data.id);
  }
  return ids;
}

/** Make a transition: {action, note, filePaths (evidence), office_code, target_problem_id}. */
async function transition(api, problemId, input, options) {
  const i = input || {};
  const refused = checkInput(i.action, i);
  if (refused) {
    const error = new Error(refused);
    error.code = 'problem.evidence_required';
    error.status = 422;
    throw error;
  }
  const photoIds = (i.photo_ids || []).slice();
  if (i.filePaths && i.filePaths.length) {
    photoIds.push.apply(photoIds, await uploadEvidence(api, i.filePaths, options));
  }
  const body = { action: i.action };
  if (i.note) body.note = i.note;
  if (photoIds.length) body.photo_ids = photoIds;
  if (i.office_code) body.office_code = i.office_code;
  if (i.target_problem_id) body.target_problem_id = i.target_problem_id;
  return api.transition(problemId, body);
}

module.exports = { ACTION_LABELS, actionsOf, listRow, loadProblems, checkInput, uploadEvidence, transition, MESSAGES };
