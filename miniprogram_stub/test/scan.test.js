'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const scan = require('../lib/scan.js');
const { createFakeWx } = require('./fake_wx.js');

const BASE = 'https://hhq.example.gov.cn';
const TOKEN = 'a1B2c3D4e5F6g7H8i9J0k1L2';

test('options.q: the URL-encoded card URL gives the token', () => {
  const q = encodeURIComponent(BASE + '/q/' + TOKEN);
  assert.deepEqual(scan.fromOptions({ q }, BASE), { source: 'q', token: TOKEN });
  assert.deepEqual(scan.fromOptions({ q }), { source: 'q', token: TOKEN });
});

test('options.q tolerates double encoding, a trailing slash, a query and a fragment', () => {
  for (const url of [BASE + '/q/' + TOKEN + '/', BASE + '/q/' + TOKEN + '?from=card', BASE + '/q/' + TOKEN + '#x']) {
    assert.equal(scan.fromOptions({ q: encodeURIComponent(url) }, BASE).token, TOKEN, url);
  }
  const twice = encodeURIComponent(encodeURIComponent(BASE + '/q/' + TOKEN));
  assert.equal(scan.fromOptions({ q: twice }, BASE).token, TOKEN);
});

test('options.q of another site or another path is not a card', () => {
  const other = scan.fromOptions({ q: encodeURIComponent('https://evil.example.com/q/' + TOKEN) }, BASE);
  assert.equal(other.token, undefined);
  assert.equal(other.error, scan.MESSAGES.otherSite);
  const notCard = scan.fromOptions({ q: encodeURIComponent(BASE + '/r/' + TOKEN) }, BASE);
  assert.equal(notCard.error, scan.MESSAGES.notCard);
  assert.equal(scan.fromOptions({ q: encodeURIComponent(BASE + '/q/bad-token!') }, BASE).error, scan.MESSAGES.notCard);
  assert.equal(scan.fromOptions({ q: encodeURIComponent(BASE + '/q/' + 'x'.repeat(33)) }, BASE).error, scan.MESSAGES.notCard);
});

test('a deployment under a path prefix is honoured', () => {
  const base = 'https://gov.example.cn/hhq';
  assert.equal(scan.fromOptions({ q: encodeURIComponent(base + '/q/' + TOKEN) }, base).token, TOKEN);
  assert.ok(scan.fromOptions({ q: encodeURIComponent('https://gov.example.cn/q/' + TOKEN) }, base).error);
});

test('options.scene: a bare token, or t=/token= forms', () => {
  assert.deepEqual(scan.fromOptions({ scene: TOKEN }), { source: 'scene', token: TOKEN });
  assert.equal(scan.fromOptions({ scene: encodeURIComponent('t=' + TOKEN) }).token, TOKEN);
  assert.equal(scan.fromOptions({ scene: 'token=' + TOKEN + '&v=1' }).token, TOKEN);
  assert.equal(scan.fromOptions({ scene: '%E4%BD%A0%E5%A5%BD' }).error, scan.MESSAGES.notCard);
  assert.equal(scan.fromOptions({}).error, scan.MESSAGES.empty);
});

test('an in-app scan: URL result, mini-program code path, or bare token', () => {
  assert.deepEqual(scan.fromScanResult({ result: BASE + '/q/' + TOKEN, scanType: 'QR_CODE' }, BASE), { source: 'scan', token: TOKEN });
  const wxcode = { result: '', scanType: 'WX_CODE', path: 'pages/scan/scan?scene=' + encodeURIComponent(TOKEN) };
  assert.deepEqual(scan.fromScanResult(wxcode, BASE), { source: 'scan', token: TOKEN });
  assert.equal(scan.fromScanResult({ result: TOKEN }).token, TOKEN);
  assert.equal(scan.fromScanResult({ result: '12345 这是什么' }).error, scan.MESSAGES.notCard);
  assert.equal(scan.fromScanResult({ result: '' }).error, scan.MESSAGES.empty);
});

test('scanCard uses the camera only and reports a cancel without an error message', async () => {
  const fake = createFakeWx();
  fake.queueScan({ result: BASE + '/q/' + TOKEN, scanType: 'QR_CODE' });
  assert.deepEqual(await scan.scanCard(fake.wx, BASE), { source: 'scan', token: TOKEN });
  const cancelled = await scan.scanCard(fake.wx, BASE);
  assert.equal(cancelled.cancelled, true);
  assert.equal(cancelled.error, '');
});
