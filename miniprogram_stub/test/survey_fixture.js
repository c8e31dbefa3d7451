'use strict';
// The default 户户清 survey as the server ships it, sample members, and complete answers on
// which every check passes (like tests/factories.py default_answers).

const fs = require('node:fs');
const path = require('node:path');
const { ageOn, parseDate } = require('../lib/form.js');

const DEFINITION_PATH = path.join(__dirname, '..', '..', 'backend', 'data', 'survey_default_v1.json');

function loadDefinition() {
  return JSON.parse(fs.readFileSync(DEFINITION_PATH, 'utf8'));
}

const VISIT_DATE = '2026-11-10';
const MEMBERS = [
  { id: 11, name: '张测一', relation: '户主', sex: 'M', birth_date: '1970-03-01' },
  { id: 12, name: '李测二', relation: '配偶', sex: 'F', birth_date: '1972-06-15' },
  { id: 13, name: '张测三', relation: '子', sex: 'M', birth_date: '2016-01-20' },
  { id: 14, name: '张测四', relation: '母亲', sex: 'F', birth_date: '1940-11-11' },
];

function age(member, visitDate) {
  const born = parseDate(member.birth_date);
  return born ? ageOn(born, parseDate(visitDate)) : null;
}

/** Complete answers on which every check passes; photos maps slot -> ids/uuids. */
function passingAnswers(members, visitDate, photos) {
  const day = visitDate || VISIT_DATE;
  const all = {};
  const kids = {};
  const adults = {};
  (members || MEMBERS).forEach((m) => {
    const a = age(m, day);
    all[String(m.id)] = true;
    if (a !== null && a >= 6 && a <= 15) kids[String(m.id)] = 'in_school';
    if (a !== null && a >= 16 && a <= 64) adults[String(m.id)] = 'farming';
  });
  return Object.assign(
    {
      food_secure: true,
      clothing_secure: true,
      school_status: kids,
      college_students: 0,
      medical_insurance: Object.assign({}, all),
      serious_illness_insurance: Object.assign({}, all),
      medical_aid: 'covered',
      doctor_contracted: Object.assign({}, all),
      family_doctor_name: '测医生',
      knows_family_doctor: true,
      hospitalized: false,
      outpatient_treated: false,
      house_grade: 'A',
      water_quantity: true,
      water_quality: true,
      water_outage_days: 0,
      water_fetch_minutes: 5,
      dibao_enrolled: false,
      tekun_enrolled: false,
      assistance_eligible_unenrolled: false,
      hardship: false,
      employment: adults,
      income_per_capita: 12000,
      has_microloan: false,
      collective_linkage: true,
      sanitary_points: 80,
      courtyard_points: 80,
      knows_policies: true,
      knows_health_policy: true,
    },
    photos || {
      photo_house: ['0f8fad5b-d9cb-469f-a165-70867728950e'],
      photo_helper_with_head: ['7c9e6679-7425-40de-944b-e07fc1f90ae7'],
    }
  );
}

module.exports = { loadDefinition, passingAnswers, MEMBERS, VISIT_DATE, DEFINITION_PATH };
