'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const form = require('../lib/form.js');
const { loadDefinition, passingAnswers, MEMBERS, VISIT_DATE } = require('./survey_fixture.js');

const definition = loadDefinition();
const opts = { members: MEMBERS, visitDate: VISIT_DATE };

function checksByKey(answers, extra) {
  const out = {};
  form.evaluateChecks(definition, answers, Object.assign({}, opts, extra || {})).forEach((c) => {
    out[c.key] = c;
  });
  return out;
}

test('complete passing answers validate and every check passes or does not apply', () => {
  const answers = passingAnswers();
  assert.deepEqual(form.validateAnswers(definition, answers, opts), {});
  const results = form.evaluateChecks(definition, answers, opts);
  assert.ok(results.length > 20);
  for (const r of results) assert.ok(r.passed, r.key + ' ' + r.status);
  const byKey = checksByKey(answers);
  assert.equal(byKey.college_aid.status, 'not_applicable');
  assert.equal(byKey.compulsory_schooling.status, 'pass');
  assert.deepEqual(byKey.compulsory_schooling.answers.school_status, { 13: 'in_school' });
});

test('required answers are named with the server message', () => {
  const answers = passingAnswers();
  delete answers.food_secure;
  answers.school_status = {};
  const errors = form.validateAnswers(definition, answers, opts);
  assert.deepEqual(errors.food_secure, ['必填项不能为空。']);
  // Only the 10-year-old is asked about school (member filter on age 6–15).
  assert.deepEqual(errors['school_status.13'], ['必填项不能为空。']);
  assert.equal(errors['school_status.11'], undefined);
});

test('required-if: remarks become required when the household met a hardship', () => {
  const answers = passingAnswers();
  assert.equal(form.validateAnswers(definition, answers, opts).remarks, undefined);
  answers.hardship = true;
  const errors = form.validateAnswers(definition, answers, opts);
  assert.deepEqual(errors.remarks, ['必填项不能为空。']);
  assert.deepEqual(errors.hardship_types, ['必填项不能为空。']);
  assert.deepEqual(errors.temporary_relief, ['必填项不能为空。']);
  answers.remarks = '突发疾病';
  answers.hardship_types = [definition.sections.find((s) => s.key === 'basic_living').questions.find((q) => q.key === 'hardship_types').options[0].value];
  answers.hardship_date = '2026-10-01';
  answers.temporary_relief = 'received';
  assert.deepEqual(form.validateAnswers(definition, answers, opts), {});
});

test('"when": a question that does not apply is not required and may not be answered', () => {
  const answers = passingAnswers();
  answers.college_aid = true;
  assert.deepEqual(form.validateAnswers(definition, answers, opts).college_aid, ['本题当前不适用，请不要填写。']);
  answers.college_students = 1;
  assert.deepEqual(form.validateAnswers(definition, answers, opts), {});
  delete answers.college_aid;
  assert.deepEqual(form.validateAnswers(definition, answers, opts).college_aid, ['必填项不能为空。']);
});

test('a per-member answer for a member outside the filter or outside the household is refused', () => {
  const answers = passingAnswers();
  answers.school_status = { 13: 'in_school', 11: 'in_school', 99: 'in_school' };
  const errors = form.validateAnswers(definition, answers, opts);
  assert.deepEqual(errors['school_status.11'], ['该成员不适用本题，请不要填写。']);
  assert.deepEqual(errors['school_status.99'], ['不是本户的家庭成员。']);
  answers.school_status = 'in_school';
  assert.deepEqual(form.validateAnswers(definition, answers, opts).school_status, ['应按家庭成员分别填写（成员编号对应答案）。']);
});

test('value errors use the server wording', () => {
  const answers = passingAnswers();
  answers.water_outage_days = 2.5;
  answers.income_per_capita = '很多';
  answers.house_grade = 'Z';
  answers.food_secure = 'yes';
  answers.nonsense = 1;
  answers.photo_house = ['not-a-uuid', 0];
  const errors = form.validateAnswers(definition, answers, opts);
  assert.deepEqual(errors.water_outage_days, ['应为整数。']);
  assert.deepEqual(errors.income_per_capita, ['应为数字。']);
  assert.match(errors.house_grade[0], /^取值应为以下之一：.+、.+。$/);
  assert.deepEqual(errors.food_secure, ['应为是或否。']);
  assert.deepEqual(errors.nonsense, ['未知的问题：nonsense']);
  assert.deepEqual(errors.photo_house, ['照片编号无效：not-a-uuid、0。']);
  const notAnObject = form.validateAnswers(definition, [], opts);
  assert.deepEqual(notAnObject._schema, ['答卷应为JSON对象（问题编码对应答案）。']);
  assert.deepEqual(notAnObject['medical_insurance.11'], ['必填项不能为空。']);
});

test('checks: a failing water answer fails its check, with the deciding answers', () => {
  const answers = passingAnswers();
  answers.water_quality = false;
  const byKey = checksByKey(answers);
  const water = Object.values(byKey).find((c) => c.question === 'water_quality');
  assert.equal(water.status, 'fail');
  assert.equal(water.passed, false);
  assert.deepEqual(water.answers, { water_quality: false });
  assert.equal(water.area, 'water');
  assert.deepEqual(water.offices, ['nyfw']);
});

test('checks: per-member failures name the members; settings decide thresholds', () => {
  const answers = passingAnswers();
  answers.medical_insurance = { 11: true, 12: false, 13: true, 14: false };
  let byKey = checksByKey(answers);
  const insured = Object.values(byKey).find((c) => c.question === 'medical_insurance');
  assert.equal(insured.status, 'fail');
  assert.deepEqual(insured.failing_members, ['12', '14']);
  answers.income_per_capita = 5000;
  byKey = checksByKey(answers);
  const income = Object.values(byKey).find((c) => c.question === 'income_per_capita');
  assert.equal(income.status, 'fail');
  assert.deepEqual(income.settings, { income_monitoring_line: 6000 });
  const lower = Object.values(checksByKey(answers, { settings: { income_monitoring_line: 4000 } })).find((c) => c.question === 'income_per_capita');
  assert.equal(lower.status, 'pass');
});

test('checks: unanswered when an answer the rule needs is missing; three-valued logic', () => {
  const answers = passingAnswers();
  delete answers.water_quality;
  const water = Object.values(checksByKey(answers)).find((c) => c.question === 'water_quality');
  assert.equal(water.status, 'unanswered');
  const scope = form.makeScope({ a: true }, new Set(), [], {});
  const unknown = { op: 'eq', key: 'b', value: true };
  assert.equal(form.evaluate({ op: 'all', of: [{ op: 'eq', key: 'a', value: false }, unknown] }, scope), false);
  assert.equal(form.evaluate({ op: 'all', of: [{ op: 'eq', key: 'a', value: true }, unknown] }, scope), null);
  assert.equal(form.evaluate({ op: 'any', of: [{ op: 'eq', key: 'a', value: true }, unknown] }, scope), true);
  assert.equal(form.evaluate({ op: 'not', of: unknown }, scope), null);
  assert.equal(form.evaluate({ op: 'answered', key: 'b' }, scope), false);
  // A yes/no answer never equals a number.
  assert.equal(form.evaluate({ op: 'eq', key: 'a', value: 1 }, scope), false);
  assert.equal(form.evaluate({ op: 'in', key: 'a', value: [true] }, scope), true);
  assert.equal(form.evaluate({ op: 'gt', key: 'a', value: 0 }, scope), null);
});

test('household conditions over members: any_member / all_members', () => {
  const members = form.memberFacts(MEMBERS, form.parseDate(VISIT_DATE));
  const scope = form.makeScope({ doctor_contracted: { 11: true, 12: false } }, new Set(['doctor_contracted']), members, {});
  const anyDoc = { op: 'any_member', of: { op: 'eq', key: 'doctor_contracted', value: true } };
  assert.equal(form.evaluate(anyDoc, scope), true);
  assert.equal(form.evaluate({ op: 'all_members', of: { op: 'eq', key: 'doctor_contracted', value: true } }, scope), false);
  assert.equal(form.evaluate({ op: 'any_member', of: { op: 'gte', fact: 'age', value: 80 } }, scope), true);
});

test('ages are counted in full years on the visit date', () => {
  const [facts] = form.memberFacts([{ id: 1, birth_date: '2016-11-11' }], form.parseDate('2026-11-10'));
  assert.equal(facts.age, 9);
  assert.equal(form.memberFacts([{ id: 1, birth_date: '2016-11-10' }], form.parseDate('2026-11-10'))[0].age, 10);
  assert.equal(form.memberFacts([{ id: 1, birth_date: null }], form.parseDate('2026-11-10'))[0].age, null);
  assert.equal(form.parseDate('2026-02-30'), null);
  assert.equal(form.chinaDate('2026-10-31T16:30:00Z'), '2026-11-01');
});

test('submittable answers drop answers a later change made inapplicable', () => {
  const answers = passingAnswers();
  answers.college_students = 1;
  answers.college_aid = true;
  answers.college_students = 0; // changed back: college_aid no longer applies
  answers.school_status = { 13: 'in_school', 11: 'in_school' };
  const sent = form.submittableAnswers(definition, answers, opts);
  assert.equal(sent.college_aid, undefined);
  assert.deepEqual(sent.school_status, { 13: 'in_school' });
  assert.deepEqual(form.validateAnswers(definition, sent, opts), {});
});

test('prefill suggestions become answers; setAnswer copies', () => {
  const answers = form.prefillAnswers({
    dibao_enrolled: { value: true, source: 'roster' },
    medical_insurance: { value: { 11: true }, source: { 11: 'roster' } },
  });
  assert.deepEqual(answers, { dibao_enrolled: true, medical_insurance: { 11: true } });
  const next = form.setAnswer(answers, 'medical_insurance', false, 12);
  assert.deepEqual(next.medical_insurance, { 11: true, 12: false });
  assert.deepEqual(answers.medical_insurance, { 11: true });
  assert.equal(form.setAnswer(next, 'dibao_enrolled', undefined).dibao_enrolled, undefined);
});

test('the render model shows required-if, per-member rows and failing checks in Chinese', () => {
  const answers = passingAnswers();
  answers.water_quality = false;
  answers.hardship = true;
  const model = form.buildModel(definition, answers, opts);
  const q = (key) => model.sections.flatMap((s) => s.questions).find((x) => x.key === key);
  assert.equal(q('remarks').required, true);
  assert.equal(q('college_aid').visible, false);
  assert.deepEqual(q('school_status').members.map((m) => m.name), ['张测三']);
  assert.equal(q('school_status').members[0].required, true);
  assert.equal(model.valid, false);
  assert.ok(model.errorCount >= 3);
  assert.equal(model.failing.length, 1);
  assert.match(model.failing[0].text, /^.+：.+/);
  assert.equal(q('water_quality').check.status, 'fail');
  assert.equal(form.photoPurpose('photo_water'), 'water');
  assert.equal(form.photoPurpose('photo_other'), 'other');
});

test('typed input becomes the answer value', () => {
  assert.equal(form.inputValue('int', ' 12 '), 12);
  assert.equal(form.inputValue('int', '1.5'), '1.5');
  assert.equal(form.inputValue('number', '3.25'), 3.25);
  assert.equal(form.inputValue('number', '很多'), '很多');
  assert.equal(form.inputValue('number', ''), undefined);
  assert.equal(form.inputValue('bool', 'false'), false);
  assert.equal(form.inputValue('text', ' 说明 '), ' 说明 ');
  assert.equal(form.inputValue('text', ''), undefined);
  assert.equal(form.inputValue('single', 'A'), 'A');
  assert.deepEqual(form.inputValue('multi', ['a']), ['a']);
  const errors = form.validateAnswers(definition, Object.assign(passingAnswers(), { water_outage_days: form.inputValue('int', '1.5') }), opts);
  assert.deepEqual(errors.water_outage_days, ['应为整数。']);
});
