'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { backoffDelay, isRetryable, retry } = require('../lib/retry.js');
const { fakeClock } = require('./support.js');

test('backoff grows exponentially, is capped, and is fully jittered', () => {
  const top = () => 0.999999;
  assert.equal(backoffDelay(0, { baseMs: 1000, random: top }), 999);
  assert.equal(backoffDelay(1, { baseMs: 1000, random: top }), 1999);
  assert.equal(backoffDelay(3, { baseMs: 1000, random: top }), 7999);
  assert.equal(backoffDelay(50, { baseMs: 1000, maxMs: 60000, random: top }), 59999);
  assert.equal(backoffDelay(5, { baseMs: 1000, random: () => 0 }), 0);
  assert.equal(backoffDelay(2, { baseMs: 1000, random: () => 0.5 }), 2000);
});

test('backoff with real randomness stays within its ceiling', () => {
  for (let i = 0; i < 500; i += 1) {
    const d = backoffDelay(4, { baseMs: 100, maxMs: 1000 });
    assert.ok(d >= 0 && d < 1000, String(d));
  }
});

test('network failures, 5xx and 429 are retryable; 4xx are not', () => {
  assert.ok(isRetryable({ kind: 'network' }));
  assert.ok(isRetryable({ kind: 'http', status: 503 }));
  assert.ok(isRetryable({ kind: 'http', status: 429 }));
  assert.ok(!isRetryable({ kind: 'http', status: 422 }));
  assert.ok(!isRetryable({ kind: 'http', status: 409 }));
  assert.ok(!isRetryable(null));
});

test('retry sleeps with backoff on the injected clock until success', async () => {
  const clock = fakeClock(0);
  let calls = 0;
  const retried = [];
  const result = await retry(
    async (attempt) => {
      calls += 1;
      assert.equal(attempt, calls - 1);
      if (calls < 3) throw { kind: 'network' };
      return 'ok';
    },
    { clock, random: () => 0.5, baseMs: 1000, onRetry: (e, attempt, delay) => retried.push([attempt, delay]) }
  );
  assert.equal(result, 'ok');
  assert.equal(calls, 3);
  assert.deepEqual(clock.sleeps, [500, 1000]);
  assert.deepEqual(retried, [[0, 500], [1, 1000]]);
  assert.equal(clock.now(), 1500);
});

test('retry gives up after the allowed retries and rethrows the last error', async () => {
  const clock = fakeClock(0);
  let calls = 0;
  await assert.rejects(
    retry(
      async () => {
        calls += 1;
        throw { kind: 'http', status: 502, n: calls };
      },
      { clock, retries: 2, random: () => 0 }
    ),
    (e) => e.n === 3
  );
  assert.equal(calls, 3);
});

test('retry does not repeat a refused (4xx) request', async () => {
  let calls = 0;
  await assert.rejects(
    retry(
      async () => {
        calls += 1;
        throw { kind: 'http', status: 422 };
      },
      { clock: fakeClock(0) }
    ),
    (e) => e.status === 422
  );
  assert.equal(calls, 1);
});
