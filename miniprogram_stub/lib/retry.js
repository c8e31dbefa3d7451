'use strict';
// Exponential backoff with full jitter, and a retry loop with an injectable clock, so tests
// run instantly and deterministically.

const DEFAULTS = { baseMs: 1000, maxMs: 5 * 60 * 1000, factor: 2 };

/** The real clock: milliseconds since the epoch and a promise-based sleep. */
const realClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Delay before retry number ``attempt`` (0 for the first retry): a random share of
 * min(maxMs, baseMs * factor^attempt) ("full jitter"), so many phones coming back online at
 * once do not hit the server in step.
 */
function backoffDelay(attempt, options) {
  const o = Object.assign({}, DEFAULTS, options || {});
  const random = o.random || Math.random;
  const n = Math.max(0, Math.floor(attempt || 0));
  const ceiling = Math.min(o.maxMs, o.baseMs * Math.pow(o.factor, Math.min(n, 30)));
  return Math.floor(random() * ceiling);
}

/** Whether an error from api.js is worth retrying: a network failure or a 5xx (or a 429). */
function isRetryable(error) {
  if (!error) return false;
  if (error.kind === 'network') return true;
  const status = error.status || 0;
  return status >= 500 || status === 429;
}

/**
 * Run ``fn(attempt)`` until it resolves, retrying retryable errors with backoff.
 * Options: retries (default 4), shouldRetry(error), clock {now, sleep}, random, baseMs, maxMs,
 * onRetry(error, attempt, delayMs).
 */
async function retry(fn, options) {
  const o = Object.assign({ retries: 4, shouldRetry: isRetryable, clock: realClock }, options || {});
  let attempt = 0;
  for (;;) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= o.retries || !o.shouldRetry(error)) throw error;
      const delay = backoffDelay(attempt, o);
      if (o.onRetry) o.onRetry(error, attempt, delay);
      await o.clock.sleep(delay);
      attempt += 1;
    }
  }
}

module.exports = { backoffDelay, isRetryable, retry, realClock, DEFAULTS };
