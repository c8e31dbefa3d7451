'use strict';
// Evaluate survey cases with lib/form.js for tests/unit/test_miniprogram_form_parity.py, which
// compares the results with the Python engine. stdin: {"definition", "cases": [{"answers",
// "members", "visit_date", "settings"}]}; stdout: [{"errors", "clean", "checks"}].

const form = require('../lib/form.js');

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  input += chunk;
});
process.stdin.on('end', () => {
  const { definition, cases } = JSON.parse(input);
  const out = cases.map((c) => {
    const opts = { members: c.members, visitDate: c.visit_date, settings: c.settings || undefined };
    return {
      errors: form.validateAnswers(definition, c.answers, opts),
      clean: form.cleanAnswers(definition, c.answers, opts),
      checks: form.evaluateChecks(definition, c.answers, opts).map((r) => ({
        key: r.key,
        status: r.status,
        failing_members: r.failing_members,
        answers: r.answers,
        settings: r.settings,
      })),
    };
  });
  process.stdout.write(JSON.stringify(out));
});
