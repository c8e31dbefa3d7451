'use strict';
const app = getApp();
const { loadMyHouseholds } = require('../../lib/households.js');
const { cacheVisitForm } = require('../../lib/visit.js');

Page({
  data: { tab: 'due', model: null, counts: { visits: 0, photos: 0, held: 0 }, error: '', loading: false },

  onShow() {
    this.refresh();
    this.off = app.queue.on('change', () => this.setData({ counts: app.queue.counts() }));
  },

  onHide() {
    if (this.off) this.off();
  },

  onPullDownRefresh() {
    app.queue.flush().then(() => this.refresh()).then(() => wx.stopPullDownRefresh());
  },

  async refresh() {
    this.setData({ loading: true, error: '', counts: app.queue.counts() });
    try {
      const model = await loadMyHouseholds(app.api, app.queue);
      this.setData({ model, loading: false });
    } catch (e) {
      if (e.code === 'auth.binding_required') {
        wx.reLaunch({ url: '/pages/login/login' });
        return;
      }
      this.setData({ loading: false, error: e.message });
    }
  },

  switchTab(e) {
    this.setData({ tab: e.currentTarget.dataset.tab });
  },

  async openVisit(e) {
    const id = e.currentTarget.dataset.id;
    wx.showLoading({ title: '正在打开走访表' });
    try {
      const form = await app.api.visitFormByHousehold(id);
      cacheVisitForm(wx, form);
      wx.hideLoading();
      wx.navigateTo({ url: '/pages/visit/visit?household_id=' + id });
    } catch (err) {
      wx.hideLoading();
      if (err.kind === 'network') {
        // Offline: the visit page uses the form cached when it was last opened.
        wx.navigateTo({ url: '/pages/visit/visit?household_id=' + id });
        return;
      }
      wx.showModal({ title: '无法打开', content: err.message, showCancel: false });
    }
  },

  scan() {
    wx.navigateTo({ url: '/pages/scan/scan' });
  },

  outbox() {
    wx.navigateTo({ url: '/pages/outbox/outbox' });
  },
});
