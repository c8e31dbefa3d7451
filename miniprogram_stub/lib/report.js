'use strict';
// A villager's own report (农户主动反映) from a scanned card: no staff account, public
// endpoints. The report keeps one client_uuid across retries (the server answers a replay
// with the same receipt), photos are uploaded first, and receipt codes are remembered on
// the phone so the villager can follow them.

const { retry } = require('./retry.js');
const { uuid4 } = require('./uuid.js');

const RECEIPTS_KEY = 'hhq.receipts.v1';
const MESSAGES = {
  description: '请简要说明遇到的问题。',
  tooLong: '问题说明不能超过500字。',
};

/** Check the form before sending; a Chinese message or null. */
function checkReport(input, maxChars) {
  const text = String((input && input.description) || '').trim();
  if (!text) return MESSAGES.description;
  if (Array.from(text).length > (maxChars || 500)) return MESSAGES.tooLong;
  return null;
}

/**
 * Send a report: {card_token, area, description, filePaths, contact_ok, wechat_code,
 * client_uuid}. Resolves the server's receipt {receipt_code, status, status_label, ...}.
 */
async function sendReport(api, input, options) {
  const o = options || {};
  const i = input || {};
  const refused = checkReport(i, o.maxChars);
  if (refused) {
    const error = new Error(refused);
    error.code = 'request.validation';
    error.status = 422;
    throw error;
  }
  // A refused report (429 rate limit, 422 content) is shown, not retried.
  const retryOpts = {
    clock: o.clock,
    random: o.random,
    retries: o.retries === undefined ? 4 : o.retries,
    shouldRetry: (e) => e && (e.kind === 'network' || e.status >= 500),
  };
  const photoIds = [];
  for (const filePath of i.filePaths || []) {
    const clientUuid = uuid4(o.randomBytes);
    const res = await retry(() => api.uploadReportPhoto({ filePath, card_token: i.card_token, client_uuid: clientUuid }), retryOpts);
    photoIds.push(res.data.id);
  }
  const body = {
    card_token: i.card_token,
    area: i.area || 'other',
    description: String(i.description).trim(),
    photo_ids: photoIds,
    client_uuid: i.client_uuid || uuid4(o.randomBytes),
  };
  if (i.contact_ok !== undefined) body.contact_ok = !!i.contact_ok;
  if (i.wechat_code) body.wechat_code = i.wechat_code;
  const res = await retry(() => api.submitReport(body), retryOpts);
  if (o.wx) rememberReceipt(o.wx, res.data);
  // What was sent comes back too: the page can send the same report again after a lost answer.
  return Object.assign({}, res.data, { client_uuid: body.client_uuid, photo_ids: photoIds });
}

/** Keep a receipt on the phone (newest first). */
function rememberReceipt(wx, receipt) {
  const list = (wx.getStorageSync(RECEIPTS_KEY) || []).filter((r) => r.receipt_code !== receipt.receipt_code);
  list.unshift({ receipt_code: receipt.receipt_code, area_label: receipt.area_label, created_at: receipt.created_at });
  wx.setStorageSync(RECEIPTS_KEY, list.slice(0, 20));
}

/** Receipts this phone sent. */
function receipts(wx) {
  return wx.getStorageSync(RECEIPTS_KEY) || [];
}

/** The status of a report by its receipt code. */
function reportStatus(api, code) {
  return api.reportStatus(String(code || '').trim());
}

module.exports = { sendReport, checkReport, rememberReceipt, receipts, reportStatus, RECEIPTS_KEY, MESSAGES };
