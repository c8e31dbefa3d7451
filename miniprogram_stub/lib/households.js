'use strict';
// "My households" for a helper: what is due this month, what is visited (or waiting in the
// queue), and which households have open problems.

const FINISHED = ['closed', 'rejected', 'merged'];
const CHINA_OFFSET_MS = 8 * 3600 * 1000;

/** The China month of a moment: {period: "2026-11", since: ISO of its first instant}. */
function chinaMonth(nowMs) {
  const local = new Date(nowMs + CHINA_OFFSET_MS);
  const y = local.getUTCFullYear();
  const m = local.getUTCMonth();
  const since = new Date(Date.UTC(y, m, 1) - CHINA_OFFSET_MS).toISOString();
  return { period: y + '-' + String(m + 1).padStart(2, '0'), since };
}

function isOpenProblem(p) {
  return p && FINISHED.indexOf(p.status) < 0;
}

/**
 * Group households. Inputs: households (GET /assignments/mine), visits (this month's, GET
 * /visits), problems (GET /problems items, may be empty), queued (queue items), now (ms).
 */
function groupHouseholds(input) {
  const i = input || {};
  const month = chinaMonth(i.now || Date.now());
  const lastVisit = {};
  const since = Date.parse(month.since);
  (i.visits || []).forEach((v) => {
    const at = Date.parse(v.ended_at);
    const known = lastVisit[v.household_id];
    if (at >= since && (!known || at > Date.parse(known))) lastVisit[v.household_id] = v.ended_at;
  });
  const pending = {};
  (i.queued || []).forEach((it) => {
    if (it.kind === 'visit') pending[it.household_id] = it.state;
  });
  const open = {};
  (i.problems || []).filter(isOpenProblem).forEach((p) => {
    (open[p.household_id] = open[p.household_id] || []).push({ id: p.id, title: p.title, status_label: p.status_label, overdue: !!p.overdue });
  });
  const rows = (i.households || []).map((h) => ({
    id: h.id,
    head_name: h.head_name,
    number: h.number,
    village_name: h.village_name,
    group_name: h.group_name,
    category_label: h.category_label,
    visited: !!lastVisit[h.id],
    last_visit_at: lastVisit[h.id] || null,
    queued: pending[h.id] || null,
    problems: open[h.id] || [],
  }));
  const due = rows.filter((r) => !r.visited && !r.queued);
  const visited = rows.filter((r) => r.visited || r.queued);
  const withProblems = rows.filter((r) => r.problems.length > 0);
  return {
    period: month.period,
    due,
    visited,
    withProblems,
    counts: {
      total: rows.length,
      due: due.length,
      visited: rows.filter((r) => r.visited).length,
      queued: rows.filter((r) => r.queued && !r.visited).length,
      problems: withProblems.length,
    },
  };
}

/** Fetch and group: the households, this month's visits, and open problems if the server has them. */
async function loadMyHouseholds(api, queue, nowMs) {
  const now = nowMs || Date.now();
  const month = chinaMonth(now);
  const session = api.session();
  const households = await api.myHouseholds();
  const visits = await api.myVisits({ since: month.since, helper_id: session && session.user ? session.user.id : undefined, page_size: 500 });
  let problems = [];
  try {
    problems = (await api.problems({ page_size: 500 })).items || [];
  } catch (error) {
    // An older server without the problems list: show households without problem badges.
    if (error.status !== 404 && error.status !== 403) throw error;
  }
  return groupHouseholds({ households, visits: visits.items || [], problems, queued: queue ? queue.items() : [], now });
}

module.exports = { groupHouseholds, loadMyHouseholds, chinaMonth, isOpenProblem };
