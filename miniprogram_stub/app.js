'use strict';
// The app wires the plain modules of lib/ together once: one API client, one offline queue
// that follows the network and flushes whenever the app comes to the front.

const config = require('./config.js');
const { createApi } = require('./lib/api.js');
const { createQueue } = require('./lib/queue.js');

App({
  globalData: { visit: null },

  onLaunch() {
    this.config = config;
    this.api = createApi({ wx, baseUrl: config.API_BASE, baseUrlKey: config.API_BASE_STORAGE_KEY });
    this.queue = createQueue({ wx, api: this.api });
    this.queue.on('card_replaced', () => {
      wx.showModal({
        title: '明白卡已作废',
        content: '有一条走访记录使用的明白卡已换发，请到“待上传”中查看，并扫描农户的新明白卡。',
        showCancel: false,
        confirmText: '知道了',
      });
    });
    this.queue.on('held', (item) => {
      wx.showToast({ title: item.kind === 'photo' ? '有照片未能上传' : '有走访未能提交', icon: 'none' });
    });
    this.queue.start();
  },

  onShow() {
    if (this.queue) this.queue.flush();
  },

  /** The page a signed-in user starts on: offices go to their problems, others to households. */
  homeFor(user) {
    const roles = ((user && user.grants) || []).map((g) => g.role);
    return roles.length && roles.every((r) => r === 'office') ? '/pages/problems/problems' : '/pages/households/households';
  },
});
