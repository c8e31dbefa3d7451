'use strict';
const app = getApp();
const report = require('../../lib/report.js');

Page({
  data: { token: '', areas: [], areaIndex: 0, description: '', photos: [], contactOk: false, receipt: null, status: null, code: '', receipts: [], error: '', busy: false },

  onLoad(options) {
    this.setData({ token: options.token || '', receipts: report.receipts(wx), code: options.code || '' });
    app.api.reportAreas().then(
      (areas) => this.setData({ areas }),
      () => this.setData({ areas: [{ area: 'other', label: '其他' }] })
    );
    if (options.code) this.lookup();
  },

  onArea(e) {
    this.setData({ areaIndex: Number(e.detail.value) });
  },

  onDescription(e) {
    this.setData({ description: e.detail.value });
  },

  onContact(e) {
    this.setData({ contactOk: e.detail.value });
  },

  addPhoto() {
    wx.chooseMedia({
      count: 6 - this.data.photos.length,
      mediaType: ['image'],
      sourceType: ['camera', 'album'],
      sizeType: ['compressed'],
      success: (res) => this.setData({ photos: this.data.photos.concat(res.tempFiles.map((f) => f.tempFilePath)).slice(0, 6) }),
    });
  },

  wxCode() {
    // Optional: lets the town send the villager a WeChat notice when the report moves on.
    return new Promise((resolve) => wx.login({ success: (r) => resolve(r.code), fail: () => resolve(undefined) }));
  },

  async submit() {
    const input = {
      card_token: this.data.token,
      area: this.data.areas[this.data.areaIndex] ? this.data.areas[this.data.areaIndex].area : 'other',
      description: this.data.description,
      filePaths: this.data.photos,
      contact_ok: this.data.contactOk,
    };
    const refused = report.checkReport(input);
    if (refused) {
      this.setData({ error: refused });
      return;
    }
    this.setData({ busy: true, error: '' });
    try {
      // One client_uuid for this report: a retry after a lost answer gives the same receipt.
      this.clientUuid = this.clientUuid || app.queue.newId();
      input.client_uuid = this.clientUuid;
      input.wechat_code = await this.wxCode();
      const receipt = await report.sendReport(app.api, input, { wx });
      this.setData({ receipt, busy: false, receipts: report.receipts(wx), code: receipt.receipt_code });
    } catch (e) {
      this.setData({ busy: false, error: e.message });
    }
  },

  onCode(e) {
    this.setData({ code: e.detail.value });
  },

  pickReceipt(e) {
    this.setData({ code: e.currentTarget.dataset.code });
    this.lookup();
  },

  async lookup() {
    try {
      const status = await report.reportStatus(app.api, this.data.code);
      this.setData({ status, error: '' });
    } catch (e) {
      this.setData({ status: null, error: e.message });
    }
  },
});
