'use strict';
const app = getApp();
const form = require('../../lib/form.js');
const gps = require('../../lib/gps.js');
const { startVisit, cachedVisitForm } = require('../../lib/visit.js');

Page({
  data: { model: null, household: null, gpsText: '正在定位……', gpsError: '', submitting: false },

  onLoad(options) {
    const visitForm = cachedVisitForm(wx, options.household_id);
    if (!visitForm) {
      wx.showModal({ title: '无法离线走访', content: '本机没有这户的走访表，请联网后打开一次。', showCancel: false, success: () => wx.navigateBack() });
      return;
    }
    this.visit = startVisit(visitForm, { queue: app.queue });
    app.globalData.visit = this.visit;
    this.setData({ household: visitForm.household, model: this.visit.model() });
    this.locate();
  },

  onShow() {
    // Back from the photos page: the slots may have changed.
    if (this.visit) this.setData({ model: this.visit.model() });
  },

  onUnload() {
    if (this.visit && !this.finished) this.visit.abandon();
    app.globalData.visit = null;
  },

  async locate() {
    const { fix, error } = await gps.tryFix(wx);
    this.visit.setGps(fix);
    this.setData({
      gpsText: fix ? '已定位（精度约' + Math.round(fix.accuracy) + '米）' : '未定位',
      gpsError: error ? error.message : '',
    });
  },

  set(key, value, member) {
    this.setData({ model: this.visit.setAnswer(key, value, member === '' || member === undefined ? undefined : member) });
  },

  onBool(e) {
    const d = e.currentTarget.dataset;
    this.set(d.key, d.value === 'true', d.member);
  },

  onRadio(e) {
    const d = e.currentTarget.dataset;
    this.set(d.key, e.detail.value, d.member);
  },

  onCheckbox(e) {
    const d = e.currentTarget.dataset;
    this.set(d.key, e.detail.value.length ? e.detail.value : undefined, d.member);
  },

  onInput(e) {
    const d = e.currentTarget.dataset;
    this.set(d.key, form.inputValue(d.type, e.detail.value), d.member);
  },

  openPhotos() {
    wx.navigateTo({ url: '/pages/photos/photos' });
  },

  submit() {
    const model = this.visit.model();
    if (!model.valid) {
      this.setData({ model });
      wx.showToast({ title: '还有' + model.errorCount + '处需要填写或修改', icon: 'none' });
      return;
    }
    const go = () => {
      const result = this.visit.finish();
      if (!result.ok) {
        this.setData({ model: result.model });
        return;
      }
      this.finished = true;
      app.queue.flush();
      wx.showToast({ title: app.queue.online ? '已提交' : '已保存，联网后自动上传', icon: 'none' });
      wx.navigateBack();
    };
    if (model.failing.length) {
      // Show the failing checks before submitting: each becomes a problem for its office.
      wx.showModal({
        title: '以下检查未通过',
        content: model.failing.map((f) => f.text).join('\n') + '\n提交后将自动生成问题，交责任单位整改。',
        confirmText: '确认提交',
        cancelText: '返回修改',
        success: (res) => {
          if (res.confirm) go();
        },
      });
      return;
    }
    go();
  },
});
