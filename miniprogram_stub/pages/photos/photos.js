'use strict';
const app = getApp();
const { iterQuestions } = require('../../lib/form.js');

Page({
  data: { slots: [] },

  onShow() {
    this.visit = app.globalData.visit;
    if (!this.visit) {
      wx.navigateBack();
      return;
    }
    this.render();
  },

  render() {
    const model = this.visit.model();
    const photos = app.queue.photosOf(this.visit.client_uuid);
    const slots = iterQuestions(this.visit.definition)
      .filter(([, q]) => q.type === 'photo')
      .map(([, q]) => {
        const question = model.sections.flatMap((s) => s.questions).find((x) => x.key === q.key);
        const ids = this.visit.answers[q.key] || [];
        return {
          key: q.key,
          label: q.label,
          required: question ? question.required : false,
          max: q.max_count || 9,
          errors: question ? question.errors : [],
          photos: photos.filter((p) => ids.indexOf(p.client_uuid) >= 0).map((p) => ({ uuid: p.client_uuid, path: p.file_path, state: p.state })),
        };
      });
    this.setData({ slots });
  },

  take(e) {
    const slot = e.currentTarget.dataset.slot;
    // Camera only: a visit photo must be taken at the household, not picked from the album.
    wx.chooseMedia({
      count: 1,
      mediaType: ['image'],
      sourceType: ['camera'],
      sizeType: ['compressed'],
      camera: 'back',
      success: (res) => {
        res.tempFiles.forEach((f) => this.visit.addPhoto(slot, f.tempFilePath));
        this.render();
        app.queue.flush();
      },
    });
  },

  remove(e) {
    const d = e.currentTarget.dataset;
    wx.showModal({
      title: '删除照片',
      content: '确定删除这张照片吗？',
      success: (res) => {
        if (!res.confirm) return;
        this.visit.removePhoto(d.slot, d.uuid);
        this.render();
      },
    });
  },

  done() {
    wx.navigateBack();
  },
});
