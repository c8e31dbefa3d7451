'use strict';
const app = getApp();
const scan = require('../../lib/scan.js');
const { cacheVisitForm } = require('../../lib/visit.js');

Page({
  data: { view: null, token: '', error: '', replaced: false, staff: false, loading: false },

  onLoad(options) {
    // Opened by a card's URL QR (options.q) or a mini-program code (options.scene).
    this.setData({ staff: !!app.api.session() && options.mode !== 'report' });
    const found = scan.fromOptions(options, app.config.PUBLIC_BASE_URL);
    if (found.token) this.open(found.token);
    else if (found.source) this.setData({ error: found.error });
  },

  async scanNow() {
    const found = await scan.scanCard(wx, app.config.PUBLIC_BASE_URL);
    if (found.cancelled) return;
    if (found.error) {
      this.setData({ error: found.error, view: null });
      return;
    }
    this.open(found.token);
  },

  async open(token) {
    this.setData({ loading: true, error: '', replaced: false, view: null, token });
    try {
      const view = await app.api.scan(token);
      this.setData({ view, loading: false });
      if (view.view === 'household') {
        cacheVisitForm(wx, await app.api.visitFormByToken(token), { token });
      }
    } catch (e) {
      this.setData({ loading: false, error: e.message, replaced: e.status === 410 });
      if (e.status === 410) {
        wx.showModal({ title: '明白卡已作废', content: e.message, showCancel: false, confirmText: '知道了' });
      }
    }
  },

  startVisit() {
    wx.navigateTo({ url: '/pages/visit/visit?household_id=' + this.data.view.household.id });
  },

  report() {
    wx.navigateTo({ url: '/pages/report/report?token=' + this.data.token });
  },
});
