'use strict';
// The project opens in WeChat DevTools: config files, pages with their four files, the
// location permission, Chinese UI text, and pages that only wire lib/ modules to the UI.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const read = (p) => fs.readFileSync(path.join(ROOT, p), 'utf8');
const readJson = (p) => JSON.parse(read(p));
const CJK = /[\u4e00-\u9fff]/;

test('project.config.json, app.json and sitemap.json are valid and complete', () => {
  const project = readJson('project.config.json');
  assert.equal(project.compileType, 'miniprogram');
  assert.ok(project.appid);
  const app = readJson('app.json');
  assert.deepEqual(app.requiredPrivateInfos, ['getLocation']);
  assert.match(app.permission['scope.userLocation'].desc, CJK);
  assert.equal(app.sitemapLocation, 'sitemap.json');
  assert.ok(Array.isArray(readJson('sitemap.json').rules));
  for (const name of ['login', 'households', 'scan', 'visit', 'photos', 'problems', 'report']) {
    assert.ok(app.pages.includes('pages/' + name + '/' + name), name);
  }
  assert.equal(app.pages[0], 'pages/login/login');
  for (const f of ['app.js', 'app.wxss', 'config.js']) assert.ok(fs.existsSync(path.join(ROOT, f)), f);
});

test('every page has its js, json, wxml and wxss, a Chinese title and Chinese text', () => {
  for (const page of readJson('app.json').pages) {
    for (const ext of ['js', 'json', 'wxml', 'wxss']) assert.ok(fs.existsSync(path.join(ROOT, page + '.' + ext)), page + '.' + ext);
    assert.match(readJson(page + '.json').navigationBarTitleText, CJK, page);
    const wxml = read(page + '.wxml');
    // Visible text between tags (not bindings) must be Chinese, never English.
    const texts = wxml
      .replace(/\{\{[^}]*\}\}/g, '')
      .split(/<[^>]+>/)
      .map((t) => t.trim())
      .filter((t) => /[A-Za-z]{3,}/.test(t));
    assert.deepEqual(texts, [], page + ' has English UI text');
    assert.match(wxml, CJK, page);
  }
});

test('pages wire modules to the UI: no direct HTTP, storage keys or survey logic in pages', () => {
  for (const page of readJson('app.json').pages) {
    const js = read(page + '.js');
    assert.ok(!/wx\.(request|uploadFile)\(/.test(js), page + ' calls the network directly');
    assert.ok(!/wx\.(setStorageSync|getStorageSync)\(/.test(js), page + ' touches storage directly');
    assert.ok(!/\bevaluate\(|\bresolve\(definition/.test(js), page + ' evaluates survey rules itself');
    for (const m of js.matchAll(/require\('([^']+)'\)/g)) assert.match(m[1], /^\.\.\/\.\.\/lib\/[a-z]+\.js$/, page);
  }
});

test('lib modules do not depend on WXML or pages', () => {
  for (const file of fs.readdirSync(path.join(ROOT, 'lib'))) {
    const js = read('lib/' + file);
    assert.ok(!/getApp\(|Page\(|getCurrentPages\(|\.wxml/.test(js), file);
    for (const m of js.matchAll(/require\('([^']+)'\)/g)) assert.match(m[1], /^\.\/[a-z]+\.js$/, file);
  }
});

test('visit photos are taken with the camera only, compressed', () => {
  const js = read('pages/photos/photos.js');
  assert.match(js, /sourceType: \['camera'\]/);
  assert.match(js, /sizeType: \['compressed'\]/);
  assert.match(read('lib/gps.js'), /type: 'gcj02',\s*isHighAccuracy: true/);
});
