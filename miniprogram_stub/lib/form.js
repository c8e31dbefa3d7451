'use strict';
// The visit form on the phone: the same rules as backend/services/survey (conditions with
// three-valued logic, "when" applicability, required-if, per-member questions with member
// filters, answer validation with the server's Chinese messages, and check evaluation), so the
// helper sees missing answers and failing checks before submitting. Keep it in step with the
// Python engine; tests/unit/test_miniprogram_form_parity.py compares the two.

const MISSING = Symbol('missing');
const ROOT_KEY = '_schema';
const DEFAULT_MAX_LENGTH = 1000;
const DEFAULT_MAX_PHOTOS = 9;
const MSG = {
  required: '必填项不能为空。',
  notApplicable: '本题当前不适用，请不要填写。',
  memberNotApplicable: '该成员不适用本题，请不要填写。',
  notAMember: '不是本户的家庭成员。',
  perMemberShape: '应按家庭成员分别填写（成员编号对应答案）。',
  rootShape: '答卷应为JSON对象（问题编码对应答案）。',
};
const STATUS_LABELS = { pass: '通过', fail: '未通过', not_applicable: '不适用', unanswered: '未作答' };
const PHOTO_PURPOSES = { photo_house: 'house', photo_water: 'water', photo_helper_with_head: 'with_head' };
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const CHINA_OFFSET_MS = 8 * 3600 * 1000;

// ----- shared vocabulary ------------------------------------------------------------------------

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isEmpty(v) {
  if (v === null || v === undefined || v === MISSING) return true;
  if (typeof v === 'string') return v.trim() === '';
  if (Array.isArray(v)) return v.length === 0;
  if (isPlainObject(v)) return Object.keys(v).length === 0;
  return false;
}

function isNumber(v) {
  return typeof v === 'number' && Number.isFinite(v);
}

/** {y, m, d} of a strict YYYY-MM-DD string that is a real date, else null. */
function parseDate(v) {
  if (typeof v !== 'string' || !DATE_RE.test(v)) return null;
  const y = Number(v.slice(0, 4));
  const m = Number(v.slice(5, 7));
  const d = Number(v.slice(8, 10));
  const t = new Date(Date.UTC(y, m - 1, d));
  if (y < 1 || t.getUTCFullYear() !== y || t.getUTCMonth() !== m - 1 || t.getUTCDate() !== d) return null;
  return { y, m, d };
}

/** The China (UTC+8) calendar date of a moment (Date, ms or ISO string) as YYYY-MM-DD. */
function chinaDate(moment) {
  const ms = moment instanceof Date ? moment.getTime() : typeof moment === 'number' ? moment : Date.parse(moment);
  return new Date(ms + CHINA_OFFSET_MS).toISOString().slice(0, 10);
}

function visitDay(v) {
  const day = parseDate(v instanceof Date ? chinaDate(v) : v);
  if (!day) throw new Error('visitDate must be YYYY-MM-DD, got ' + String(v));
  return day;
}

function ageOn(born, day) {
  const before = day.m < born.m || (day.m === born.m && day.d < born.d);
  return day.y - born.y - (before ? 1 : 0);
}

/** Members as fact objects: string id and age in full years on the visit day (null if unknown). */
function memberFacts(members, day) {
  const out = [];
  const seen = {};
  (members || []).forEach((m) => {
    const mid = String(m.id);
    if (seen[mid]) return;
    seen[mid] = true;
    const facts = Object.assign({}, m, { id: mid });
    const born = parseDate(m.birth_date);
    facts.age = born ? ageOn(born, day) : null;
    out.push(facts);
  });
  return out;
}

function iterQuestions(definition) {
  const out = [];
  ((definition && definition.sections) || []).forEach((section) => {
    (section.questions || []).forEach((q) => out.push([section, q]));
  });
  return out;
}

function optionValues(q) {
  return Array.isArray(q.options) ? q.options.filter((o) => isPlainObject(o) && typeof o.value === 'string').map((o) => o.value) : [];
}

function optionLabels(q) {
  if (!Array.isArray(q.options)) return '';
  return q.options
    .filter(isPlainObject)
    .map((o) => String(o.label !== undefined ? o.label : o.value))
    .join('、');
}

function settingDefaults(definition) {
  const out = {};
  const settings = (definition && definition.settings) || {};
  Object.keys(settings).forEach((name) => {
    out[name] = settings[name] && settings[name].default;
  });
  return out;
}

// Python's str() of the few kinds of values a message may quote.
function pyStr(v) {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  return JSON.stringify(v);
}

// ----- conditions (Kleene logic: true, false, or null for unknown) -----------------------------

function makeScope(values, perMember, members, settings) {
  return { values, perMember, members: members || [], settings: settings || {} };
}

function and3(results) {
  let unknown = false;
  for (const r of results) {
    if (r === false) return false;
    unknown = unknown || r === null;
  }
  return unknown ? null : true;
}

function or3(results) {
  let unknown = false;
  for (const r of results) {
    if (r === true) return true;
    unknown = unknown || r === null;
  }
  return unknown ? null : false;
}

function operand(cond, scope, member) {
  if ('fact' in cond) {
    if (!member) return MISSING;
    const v = member[cond.fact];
    return v === null || v === undefined ? MISSING : v;
  }
  const key = cond.key;
  const value = Object.prototype.hasOwnProperty.call(scope.values, key) ? scope.values[key] : MISSING;
  if (scope.perMember.has(key)) {
    if (!member || !isPlainObject(value)) return MISSING;
    return Object.prototype.hasOwnProperty.call(value, member.id) ? value[member.id] : MISSING;
  }
  return value;
}

function same(a, b) {
  // A yes/no answer never equals a number.
  if (typeof a === 'boolean' || typeof b === 'boolean') return typeof a === typeof b && a === b;
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') return JSON.stringify(a) === JSON.stringify(b);
  return a === b;
}

function compare(op, left, right) {
  if (op === 'eq') return same(left, right);
  if (op === 'ne') return !same(left, right);
  if (op === 'in') {
    if (Array.isArray(left) || isPlainObject(left) || !Array.isArray(right)) return null;
    return right.some((r) => same(left, r));
  }
  if (op === 'has') {
    if (!Array.isArray(left)) return null;
    const wanted = Array.isArray(right) ? right : [right];
    return left.some((item) => wanted.some((w) => same(item, w)));
  }
  if (!(isNumber(left) && isNumber(right))) return null;
  if (op === 'lt') return left < right;
  if (op === 'lte') return left <= right;
  if (op === 'gt') return left > right;
  return left >= right;
}

/** Evaluate a condition for the household (member null) or one member: true, false or null. */
function evaluate(cond, scope, member) {
  const op = cond.op;
  if (op === 'all') return and3(cond.of.map((c) => evaluate(c, scope, member)));
  if (op === 'any') return or3(cond.of.map((c) => evaluate(c, scope, member)));
  if (op === 'not') {
    const inner = evaluate(cond.of, scope, member);
    return inner === null ? null : !inner;
  }
  if (op === 'any_member') return or3(scope.members.map((m) => evaluate(cond.of, scope, m)));
  if (op === 'all_members') return and3(scope.members.map((m) => evaluate(cond.of, scope, m)));
  const left = operand(cond, scope, member || null);
  if (op === 'answered') return !isEmpty(left);
  if (isEmpty(left)) return null;
  let right = cond.value;
  if ('setting' in cond) {
    right = Object.prototype.hasOwnProperty.call(scope.settings, cond.setting) ? scope.settings[cond.setting] : null;
  }
  return compare(op, left, right);
}

function referencedKeys(cond, out) {
  const acc = out || [];
  if (!isPlainObject(cond)) return acc;
  if (typeof cond.key === 'string') acc.push(cond.key);
  const inner = cond.of;
  (Array.isArray(inner) ? inner : [inner]).forEach((c) => referencedKeys(c, acc));
  return acc;
}

function referencedSettings(cond, out) {
  const acc = out || [];
  if (!isPlainObject(cond)) return acc;
  if (typeof cond.setting === 'string') acc.push(cond.setting);
  const inner = cond.of;
  (Array.isArray(inner) ? inner : [inner]).forEach((c) => referencedSettings(c, acc));
  return acc;
}

// ----- answers ----------------------------------------------------------------------------------

function photoId(item) {
  if (typeof item === 'boolean') return false;
  if (typeof item === 'number') return Number.isInteger(item) && item > 0;
  if (typeof item === 'string') return UUID_RE.test(item);
  return false;
}

/** Chinese messages for a non-empty answer that does not fit its question; [] when fine. */
function valueErrors(q, value) {
  const kind = q.type;
  if (kind === 'bool') return typeof value === 'boolean' ? [] : ['应为是或否。'];
  if (kind === 'single') {
    if (typeof value === 'string' && optionValues(q).indexOf(value) >= 0) return [];
    return ['取值应为以下之一：' + optionLabels(q) + '。'];
  }
  if (kind === 'multi') {
    if (!Array.isArray(value)) return ['应为多选列表。'];
    const options = optionValues(q);
    if (!value.every((v) => typeof v === 'string' && options.indexOf(v) >= 0)) return ['取值应为以下之一：' + optionLabels(q) + '。'];
    if (new Set(value).size !== value.length) return ['选项不能重复。'];
    return [];
  }
  if (kind === 'int' || kind === 'number') {
    if (kind === 'int' && !(typeof value === 'number' && Number.isInteger(value))) return ['应为整数。'];
    if (!isNumber(value)) return ['应为数字。'];
    const errors = [];
    if (q.min !== undefined && q.min !== null && value < q.min) errors.push('不能小于' + String(q.min) + '。');
    if (q.max !== undefined && q.max !== null && value > q.max) errors.push('不能大于' + String(q.max) + '。');
    return errors;
  }
  if (kind === 'text') {
    if (typeof value !== 'string') return ['应为文字。'];
    const limit = q.max_length !== undefined ? q.max_length : DEFAULT_MAX_LENGTH;
    return Array.from(value).length > limit ? ['长度不能超过' + limit + '个字。'] : [];
  }
  if (kind === 'date') {
    return parseDate(value) ? [] : ['日期格式应为YYYY-MM-DD，且须为有效日期。'];
  }
  if (kind === 'photo') {
    if (!Array.isArray(value)) return ['应为照片编号列表。'];
    const bad = value.filter((item) => !photoId(item));
    if (bad.length) return ['照片编号无效：' + bad.slice(0, 5).map(pyStr).join('、') + '。'];
    const errors = [];
    if (new Set(value.map((v) => String(v).toLowerCase())).size !== value.length) errors.push('照片不能重复。');
    const limit = q.max_count !== undefined ? q.max_count : DEFAULT_MAX_PHOTOS;
    if (value.length > limit) errors.push('最多上传' + limit + '张照片。');
    return errors;
  }
  return ['未知的题型：' + pyStr(kind)];
}

/** Whether a question is required here (a required-if condition must be definitely true). */
function isRequired(q, scope, member) {
  const required = q.required === undefined ? false : q.required;
  if (typeof required === 'boolean') return required;
  return evaluate(required, scope, member || null) === true;
}

/** Whether a question is asked here: true, false, or null while its "when" waits for an answer. */
function applies(q, scope, member) {
  if (member && 'member_filter' in q && evaluate(q.member_filter, scope, member) !== true) return false;
  if ('when' in q) return evaluate(q.when, scope, member || null);
  return true;
}

/** Walk the form in order: effective values, applicability, undetermined members, errors. */
function resolve(definition, answers, opts) {
  const day = visitDay(opts.visitDate);
  const facts = memberFacts(opts.members, day);
  const perMember = new Set(iterQuestions(definition).filter(([, q]) => q.per_member === true).map(([, q]) => q.key));
  const res = {
    values: {},
    applicable: {},
    undetermined: {},
    outcomes: {},
    errors: {},
    members: facts,
    perMember,
    scope(settings) {
      return makeScope(this.values, this.perMember, this.members, settings);
    },
    add(key, messages) {
      const list = Array.isArray(messages) ? messages : [messages];
      this.errors[key] = (this.errors[key] || []).concat(list);
    },
  };
  let given = answers;
  if (!isPlainObject(given)) {
    if (given !== null && given !== undefined) res.add(ROOT_KEY, MSG.rootShape);
    given = {};
  }
  const known = new Set();
  iterQuestions(definition).forEach(([, q]) => {
    known.add(q.key);
    const raw = Object.prototype.hasOwnProperty.call(given, q.key) ? given[q.key] : null;
    if (perMember.has(q.key)) resolveMembers(res, q, raw);
    else resolveHousehold(res, q, raw);
  });
  Object.keys(given).forEach((key) => {
    if (!known.has(key)) res.add(key, '未知的问题：' + key);
  });
  return res;
}

function resolveHousehold(res, q, raw) {
  const key = q.key;
  const scope = res.scope();
  const applicable = applies(q, scope, null);
  res.applicable[key] = applicable;
  if (applicable === false) {
    if (!isEmpty(raw)) res.add(key, MSG.notApplicable);
    return;
  }
  if (isEmpty(raw)) {
    if (applicable === true && isRequired(q, scope, null)) res.add(key, MSG.required);
    return;
  }
  const errors = valueErrors(q, raw);
  if (errors.length) res.add(key, errors);
  else if (applicable === true) res.values[key] = raw;
}

function resolveMembers(res, q, rawIn) {
  const key = q.key;
  const scope = res.scope();
  const outcome = {};
  res.members.forEach((m) => {
    outcome[m.id] = applies(q, scope, m);
  });
  res.outcomes[key] = outcome;
  res.applicable[key] = res.members.filter((m) => outcome[m.id] === true).map((m) => m.id);
  res.undetermined[key] = res.members.filter((m) => outcome[m.id] === null).map((m) => m.id);
  let raw = isEmpty(rawIn) ? {} : rawIn;
  const shaped = isPlainObject(raw);
  if (!shaped) {
    // One error for the whole question rather than "required" for every member.
    res.add(key, MSG.perMemberShape);
    raw = {};
  }
  const given = {};
  Object.keys(raw).forEach((k) => {
    given[String(k)] = raw[k];
  });
  Object.keys(given).forEach((mid) => {
    if (!Object.prototype.hasOwnProperty.call(outcome, mid)) res.add(key + '.' + mid, MSG.notAMember);
    else if (outcome[mid] === false && !isEmpty(given[mid])) res.add(key + '.' + mid, MSG.memberNotApplicable);
  });
  const values = {};
  res.members.forEach((member) => {
    const mid = member.id;
    if (outcome[mid] === false) return;
    const value = Object.prototype.hasOwnProperty.call(given, mid) ? given[mid] : null;
    if (isEmpty(value)) {
      if (shaped && outcome[mid] === true && isRequired(q, scope, member)) res.add(key + '.' + mid, MSG.required);
      return;
    }
    const errors = valueErrors(q, value);
    if (errors.length) res.add(key + '.' + mid, errors);
    else if (outcome[mid] === true) values[mid] = value;
  });
  res.values[key] = values;
}

/** Field errors keyed like the server's ("key" or "key.<member id>"); {} when valid. */
function validateAnswers(definition, answers, opts) {
  return resolve(definition, answers, opts).errors;
}

/** Only the applicable, valid, non-empty answers (what the server stores). */
function cleanAnswers(definition, answers, opts) {
  const res = resolve(definition, answers, opts);
  const out = {};
  Object.keys(res.values).forEach((k) => {
    if (!isEmpty(res.values[k])) out[k] = res.values[k];
  });
  return out;
}

/**
 * The answers to send: everything the helper entered, minus answers to questions (and members)
 * that no longer apply after a later change, which the server would refuse.
 */
function submittableAnswers(definition, answers, opts) {
  const res = resolve(definition, answers, opts);
  const out = {};
  Object.keys(answers || {}).forEach((key) => {
    const value = answers[key];
    if (res.perMember.has(key) && isPlainObject(value)) {
      const outcome = res.outcomes[key] || {};
      const kept = {};
      Object.keys(value).forEach((mid) => {
        if (outcome[mid] !== false && !isEmpty(value[mid])) kept[mid] = value[mid];
      });
      out[key] = kept;
    } else if (res.applicable[key] === false) {
      // not asked: dropped
    } else if (!isEmpty(value)) {
      out[key] = value;
    }
  });
  return out;
}

// ----- checks -----------------------------------------------------------------------------------

function mergedSettings(definition, settings) {
  const merged = settingDefaults(definition);
  Object.keys(settings || {}).forEach((k) => {
    if (settings[k] !== null && settings[k] !== undefined) merged[k] = settings[k];
  });
  return merged;
}

/** One result per check of the definition, in form order (status pass/fail/not_applicable/unanswered). */
function evaluateChecks(definition, answers, opts) {
  const res = resolve(definition, answers, opts);
  const values = mergedSettings(definition, opts.settings);
  const scope = res.scope(values);
  const byId = {};
  res.members.forEach((m) => {
    byId[m.id] = m;
  });
  const sections = {};
  ((definition && definition.sections) || []).forEach((s) => {
    sections[s.key] = s;
  });
  const results = [];
  iterQuestions(definition).forEach(([, q]) => {
    const check = q.check;
    if (!check) return;
    const rule = check.rule;
    const qkey = q.key;
    let status;
    let failing = [];
    let shown;
    if (q.per_member === true) {
      const applicable = res.applicable[qkey] || [];
      const outcomes = applicable.map((mid) => [mid, evaluate(rule, scope, byId[mid])]);
      failing = outcomes.filter(([, r]) => r === false).map(([mid]) => mid);
      if (failing.length) status = 'fail';
      else if ((res.undetermined[qkey] || []).length || outcomes.some(([, r]) => r === null)) status = 'unanswered';
      else if (!applicable.length) status = 'not_applicable';
      else status = 'pass';
      shown = applicable;
    } else {
      shown = res.members.map((m) => m.id);
      const applicable = Object.prototype.hasOwnProperty.call(res.applicable, qkey) ? res.applicable[qkey] : false;
      if (applicable === null) status = 'unanswered';
      else if (!applicable) status = 'not_applicable';
      else {
        const outcome = evaluate(rule, scope, null);
        status = outcome === true ? 'pass' : outcome === false ? 'fail' : 'unanswered';
      }
    }
    const evidence = {};
    Array.from(new Set([qkey].concat(referencedKeys(rule)))).forEach((key) => {
      const value = Object.prototype.hasOwnProperty.call(res.values, key) ? res.values[key] : null;
      if (res.perMember.has(key)) {
        const map = value || {};
        const picked = {};
        shown.forEach((mid) => {
          picked[mid] = Object.prototype.hasOwnProperty.call(map, mid) ? map[mid] : null;
        });
        evidence[key] = picked;
      } else {
        evidence[key] = value;
      }
    });
    const used = {};
    referencedSettings(rule).forEach((name) => {
      used[name] = Object.prototype.hasOwnProperty.call(values, name) ? values[name] : null;
    });
    const area = check.area;
    results.push({
      key: check.key,
      label: check.label,
      area,
      area_label: (sections[area] && sections[area].label) || area,
      offices: (check.offices || []).slice(),
      status,
      status_label: STATUS_LABELS[status],
      passed: status === 'pass' || status === 'not_applicable',
      not_applicable: status === 'not_applicable',
      question: qkey,
      answers: evidence,
      failing_members: failing,
      settings: used,
      problem: check.problem === undefined ? null : check.problem,
    });
  });
  return results;
}

// ----- what the visit page needs ----------------------------------------------------------------

/** Answers suggested by the server's prefill ({key: {value, source}}) as an answers object. */
function prefillAnswers(prefill) {
  const out = {};
  Object.keys(prefill || {}).forEach((key) => {
    const entry = prefill[key];
    if (entry && entry.value !== undefined && entry.value !== null) out[key] = JSON.parse(JSON.stringify(entry.value));
  });
  return out;
}

/** A copy of ``answers`` with one answer set (per member when memberId is given). */
function setAnswer(answers, key, value, memberId) {
  const out = Object.assign({}, answers);
  if (memberId === undefined || memberId === null) {
    if (value === undefined) delete out[key];
    else out[key] = value;
    return out;
  }
  const map = Object.assign({}, isPlainObject(out[key]) ? out[key] : {});
  if (value === undefined || value === null) delete map[String(memberId)];
  else map[String(memberId)] = value;
  out[key] = map;
  return out;
}

function memberName(members, mid) {
  const m = (members || []).find((x) => String(x.id) === String(mid));
  return m ? m.name : '成员' + mid;
}

/**
 * The render model of the form: sections, questions with visibility, required flags, values and
 * errors (per member where needed), the check results and the failing checks in plain Chinese.
 */
function buildModel(definition, answers, opts) {
  const res = resolve(definition, answers, opts);
  const checks = evaluateChecks(definition, answers, opts);
  const scope = res.scope();
  const byQuestion = {};
  checks.forEach((c) => {
    byQuestion[c.question] = c;
  });
  let errorCount = 0;
  const sections = ((definition && definition.sections) || []).map((section) => {
    const questions = (section.questions || []).map((q) => {
      const key = q.key;
      const check = byQuestion[key] || null;
      const base = {
        key,
        label: q.label,
        type: q.type,
        help: q.help || '',
        unit: q.unit || '',
        options: (q.options || []).map((op) => ({ value: op.value, label: op.label })),
        min: q.min,
        max: q.max,
        per_member: q.per_member === true,
        check: check ? { key: check.key, label: check.label, status: check.status, status_label: check.status_label, problem: check.problem } : null,
      };
      if (q.per_member === true) {
        const outcome = res.outcomes[key] || {};
        const given = isPlainObject(answers && answers[key]) ? answers[key] : {};
        base.members = res.members
          .filter((m) => outcome[m.id] !== false)
          .map((m) => {
            const errors = res.errors[key + '.' + m.id] || [];
            errorCount += errors.length;
            return {
              id: m.id,
              name: m.name || '',
              age: m.age,
              visible: true,
              required: outcome[m.id] === true && isRequired(q, scope, m),
              value: Object.prototype.hasOwnProperty.call(given, m.id) ? given[m.id] : null,
              errors,
            };
          });
        base.visible = base.members.length > 0;
        base.errors = res.errors[key] || [];
      } else {
        const applicable = res.applicable[key];
        base.visible = applicable !== false;
        base.required = applicable === true && isRequired(q, scope, null);
        base.value = answers && Object.prototype.hasOwnProperty.call(answers, key) ? answers[key] : null;
        base.errors = res.errors[key] || [];
      }
      errorCount += base.errors.length;
      return base;
    });
    return { key: section.key, label: section.label, questions, visible: questions.some((q) => q.visible) };
  });
  const failing = checks
    .filter((c) => c.status === 'fail')
    .map((c) => ({
      key: c.key,
      label: c.label,
      area_label: c.area_label,
      problem: c.problem,
      members: c.failing_members.map((mid) => memberName(opts.members, mid)),
      text: c.label + '：' + (c.problem || '未通过') + (c.failing_members.length ? '（' + c.failing_members.map((mid) => memberName(opts.members, mid)).join('、') + '）' : ''),
    }));
  const unknown = Object.keys(res.errors).filter((k) => k === ROOT_KEY || !sections.some((s) => s.questions.some((q) => k === q.key || k.indexOf(q.key + '.') === 0)));
  return { sections, checks, failing, errors: res.errors, errorCount: errorCount + unknown.length, valid: Object.keys(res.errors).length === 0 };
}

/**
 * The answer value of what the helper typed or picked: numbers for int/number questions (a
 * text that is not a number stays text, so the form shows the server's message), booleans for
 * "true"/"false", undefined for an empty input (the answer is cleared).
 */
function inputValue(type, raw) {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'string') return raw;
  const text = raw.trim();
  if (type === 'text') return raw === '' ? undefined : raw;
  if (text === '') return undefined;
  if (type === 'int') return /^[-+]?\d+$/.test(text) ? parseInt(text, 10) : text;
  if (type === 'number') return /^[-+]?(\d+\.?\d*|\.\d+)$/.test(text) ? parseFloat(text) : text;
  if (type === 'bool') return text === 'true' ? true : text === 'false' ? false : text;
  return text;
}

/** The purpose of a photo slot for POST /photos. */
function photoPurpose(slotKey) {
  return PHOTO_PURPOSES[slotKey] || 'other';
}

/** Labels of every question by key, for showing the server's field errors. */
function questionLabels(definition) {
  const out = {};
  iterQuestions(definition).forEach(([, q]) => {
    out[q.key] = q.label;
  });
  return out;
}

module.exports = {
  MISSING,
  MSG,
  STATUS_LABELS,
  isEmpty,
  isNumber,
  parseDate,
  chinaDate,
  ageOn,
  memberFacts,
  evaluate,
  makeScope,
  referencedKeys,
  referencedSettings,
  valueErrors,
  isRequired,
  applies,
  resolve,
  validateAnswers,
  cleanAnswers,
  submittableAnswers,
  evaluateChecks,
  prefillAnswers,
  setAnswer,
  buildModel,
  photoPurpose,
  inputValue,
  questionLabels,
  iterQuestions,
};
