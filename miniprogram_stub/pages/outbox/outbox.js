'use strict';
const app = getApp();
const { describeError } = require('../../lib/queue.js');

const STATES = { pending: '等待上传', uploaded: '照片已上传', held: '未通过，需处理' };

Page({
  data: { rows: [], online: true, sent: [] },

  onShow() {
    this.render();
    this.off = app.queue.on('change', () => this.render());
  },

  onHide() {
    if (this.off) this.off();
  },

  onUnload() {
    if (this.off) this.off();
  },

  render() {
    const rows = app.queue.items().map((it) => ({
      id: it.id,
      kind: it.kind === 'visit' ? '走访' : '照片',
      label: it.label || (it.kind === 'photo' ? '走访照片' : ''),
      state: STATES[it.state] || it.state,
      held: it.state === 'held',
      conflict: it.error && it.error.code === 'visit.conflict',
      replaced: !!it.card_replaced,
      message: it.error ? describeError(it.error) : '',
    }));
    const sent = app.queue.sent().slice(-10).reverse().map((s) => ({ id: s.client_uuid, label: s.label, status: s.status === 'duplicate' ? '已提交（重复上传已合并）' : '已提交' }));
    this.setData({ rows, sent, online: app.queue.online });
  },

  syncNow() {
    app.queue.flush().then((summary) => {
      const v = summary.visits;
      wx.showToast({ title: '已提交' + (v.created + v.duplicate) + '条', icon: 'none' });
      this.render();
    });
  },

  retry(e) {
    app.queue.retryItem(e.currentTarget.dataset.id);
    app.queue.flush();
  },

  resubmit(e) {
    app.queue.resubmitAsNew(e.currentTarget.dataset.id);
    app.queue.flush();
  },

  discard(e) {
    const id = e.currentTarget.dataset.id;
    wx.showModal({
      title: '删除记录',
      content: '删除后这条记录不会再上传，确定吗？',
      success: (res) => {
        if (res.confirm) app.queue.discard(id);
      },
    });
  },
});
