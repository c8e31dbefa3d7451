'use strict';
const app = getApp();

Page({
  data: { stage: 'loading', bindingCode: '', error: '', apiBase: '', showDev: false },

  onLoad() {
    this.setData({ apiBase: app.api.baseUrl });
    const session = app.api.session();
    if (session) {
      wx.reLaunch({ url: app.homeFor(session.user) });
      return;
    }
    this.login();
  },

  async login() {
    this.setData({ stage: 'loading', error: '' });
    try {
      const result = await app.api.loginWithWechat();
      if (result.status === 'ok') {
        wx.reLaunch({ url: app.homeFor(result.user) });
        app.queue.flush();
      } else {
        this.setData({ stage: 'bind' });
      }
    } catch (e) {
      this.setData({ stage: 'error', error: e.message });
    }
  },

  onCodeInput(e) {
    this.setData({ bindingCode: e.detail.value });
  },

  async bind() {
    if (!this.data.bindingCode.trim()) {
      this.setData({ error: '请输入绑定码。' });
      return;
    }
    try {
      const result = await app.api.bind(this.data.bindingCode);
      wx.showToast({ title: '绑定成功', icon: 'success' });
      wx.reLaunch({ url: app.homeFor(result.user) });
      app.queue.flush();
    } catch (e) {
      // A lapsed ticket needs a fresh wx.login before the code can be tried again.
      if (e.code === 'auth.bind_ticket_invalid') this.login();
      this.setData({ error: e.message });
    }
  },

  toggleDev() {
    this.setData({ showDev: !this.data.showDev });
  },

  onApiBaseInput(e) {
    this.setData({ apiBase: e.detail.value });
  },

  saveApiBase() {
    app.api.setBaseUrl(this.data.apiBase, true);
    this.setData({ apiBase: app.api.baseUrl });
    this.login();
  },

  reportAsVillager() {
    wx.navigateTo({ url: '/pages/scan/scan?mode=report' });
  },
});
