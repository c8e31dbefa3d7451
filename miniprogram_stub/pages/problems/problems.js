'use strict';
const app = getApp();
const problems = require('../../lib/problems.js');

const FILTERS = {
  todo: 'assigned,rectifying,reopened',
  done: 'rectified,verified',
  all: '',
};

Page({
  data: { filter: 'todo', rows: [], total: 0, detail: null, action: null, note: '', photos: [], error: '', busy: false },

  onShow() {
    this.load();
  },

  onPullDownRefresh() {
    this.load().then(() => wx.stopPullDownRefresh());
  },

  async load() {
    this.setData({ error: '' });
    try {
      const list = await problems.loadProblems(app.api, { status: FILTERS[this.data.filter] || undefined });
      this.setData({ rows: list.rows, total: list.total });
    } catch (e) {
      if (e.code === 'auth.binding_required') {
        wx.reLaunch({ url: '/pages/login/login' });
        return;
      }
      this.setData({ error: e.message });
    }
  },

  switchFilter(e) {
    this.setData({ filter: e.currentTarget.dataset.filter, detail: null });
    this.load();
  },

  async open(e) {
    try {
      const detail = await app.api.problem(e.currentTarget.dataset.id);
      this.setData({ detail, actions: problems.actionsOf(detail), action: null, note: '', photos: [], error: '' });
    } catch (err) {
      this.setData({ error: err.message });
    }
  },

  close() {
    this.setData({ detail: null });
  },

  chooseAction(e) {
    this.setData({ action: e.currentTarget.dataset.name, error: '' });
  },

  onNote(e) {
    this.setData({ note: e.detail.value });
  },

  addEvidence() {
    wx.chooseMedia({
      count: 6,
      mediaType: ['image'],
      sourceType: ['camera', 'album'],
      sizeType: ['compressed'],
      success: (res) => this.setData({ photos: this.data.photos.concat(res.tempFiles.map((f) => f.tempFilePath)) }),
    });
  },

  async submitAction() {
    const input = { action: this.data.action, note: this.data.note, filePaths: this.data.photos };
    const refused = problems.checkInput(input.action, input);
    if (refused) {
      this.setData({ error: refused });
      return;
    }
    this.setData({ busy: true, error: '' });
    try {
      const detail = await problems.transition(app.api, this.data.detail.id, input);
      wx.showToast({ title: '已' + problems.ACTION_LABELS[input.action], icon: 'success' });
      this.setData({ detail, actions: problems.actionsOf(detail), action: null, note: '', photos: [], busy: false });
      this.load();
    } catch (e) {
      this.setData({ busy: false, error: e.message });
    }
  },
});
