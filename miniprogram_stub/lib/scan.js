'use strict';
// Where a household card arrives from, and its token. The card's QR encodes
// PUBLIC_BASE_URL/q/<token>; the token is 24 base62 characters (the server accepts 1–32).
//   options.q      the mini-program was opened by an ordinary URL QR code: the card URL,
//                  URL-encoded by WeChat
//   options.scene  a mini-program code (wxacode.getUnlimited): the scene, URL-encoded
//   wx.scanCode    an in-app scan: result is the URL (or the mini-program path for a wxacode)

const TOKEN_RE = /^[0-9A-Za-z]{1,32}$/;
const MESSAGES = {
  notCard: '这不是户户清明白卡的二维码，请扫描农户家中的明白卡。',
  otherSite: '这张明白卡不属于本系统，请核对后再扫。',
  empty: '没有读到二维码内容，请重新扫描。',
};

function safeDecode(value) {
  let out = String(value);
  // WeChat encodes once; a link passed through another page may be encoded twice.
  for (let i = 0; i < 2 && /%[0-9A-Fa-f]{2}/.test(out); i += 1) {
    try {
      out = decodeURIComponent(out);
    } catch (e) {
      break;
    }
  }
  return out.trim();
}

function splitUrl(text) {
  const m = /^(https?):\/\/([^/?#]+)([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(text);
  if (!m) return null;
  return { origin: m[1].toLowerCase() + '://' + m[2].toLowerCase(), path: m[3] || '/', query: m[4] || '' };
}

function originOf(base) {
  const parts = splitUrl(String(base || '').replace(/\/+$/, ''));
  return parts ? parts.origin : null;
}

function basePath(base) {
  const parts = splitUrl(String(base || '').replace(/\/+$/, ''));
  return parts ? parts.path.replace(/\/+$/, '') : '';
}

/**
 * The token of a card URL (…/q/<token>), or {error}. With publicBaseUrl, a URL of another
 * site is refused.
 */
function tokenFromUrl(text, publicBaseUrl) {
  const parts = splitUrl(text);
  if (!parts) return { error: MESSAGES.notCard };
  if (publicBaseUrl && originOf(publicBaseUrl) && parts.origin !== originOf(publicBaseUrl)) {
    return { error: MESSAGES.otherSite };
  }
  const prefix = publicBaseUrl ? basePath(publicBaseUrl) : '';
  const m = /^(.*)\/q\/([^/]+)\/?$/.exec(parts.path);
  if (!m || (publicBaseUrl && m[1] !== prefix)) return { error: MESSAGES.notCard };
  const token = m[2];
  return TOKEN_RE.test(token) ? { token } : { error: MESSAGES.notCard };
}

/** The token of a mini-program code's scene: the bare token, or t=<token> / token=<token>. */
function tokenFromScene(scene) {
  const text = safeDecode(scene);
  if (!text) return { error: MESSAGES.empty };
  if (TOKEN_RE.test(text)) return { token: text };
  const m = /(?:^|[&?])(?:t|token)=([0-9A-Za-z]{1,32})(?:&|$)/.exec(text);
  return m ? { token: m[1] } : { error: MESSAGES.notCard };
}

/** The token from a page's launch options ({q} or {scene}); source says which. */
function fromOptions(options, publicBaseUrl) {
  const o = options || {};
  if (o.q) return Object.assign({ source: 'q' }, tokenFromUrl(safeDecode(o.q), publicBaseUrl));
  if (o.scene) return Object.assign({ source: 'scene' }, tokenFromScene(o.scene));
  if (o.token) return Object.assign({ source: 'token' }, TOKEN_RE.test(o.token) ? { token: o.token } : { error: MESSAGES.notCard });
  return { source: null, error: MESSAGES.empty };
}

/** The token from a wx.scanCode result: a URL QR, a mini-program code (path with scene) or a token. */
function fromScanResult(result, publicBaseUrl) {
  const r = result || {};
  if (r.path) {
    const m = /[?&]scene=([^&]*)/.exec(r.path);
    if (m) return Object.assign({ source: 'scan' }, tokenFromScene(m[1]));
  }
  const text = String(r.result || '').trim();
  if (!text) return { source: 'scan', error: MESSAGES.empty };
  if (/^https?:\/\//i.test(text)) return Object.assign({ source: 'scan' }, tokenFromUrl(text, publicBaseUrl));
  if (TOKEN_RE.test(text)) return { source: 'scan', token: text };
  return { source: 'scan', error: MESSAGES.notCard };
}

/** Scan with the camera only (wx.scanCode) and resolve the token result. */
function scanCard(wx, publicBaseUrl) {
  return new Promise((resolve) => {
    wx.scanCode({
      onlyFromCamera: true,
      scanType: ['qrCode', 'wxCode'],
      success: (res) => resolve(fromScanResult(res, publicBaseUrl)),
      fail: (err) => {
        const cancelled = /cancel/i.test((err && err.errMsg) || '');
        resolve({ source: 'scan', cancelled, error: cancelled ? '' : MESSAGES.empty });
      },
    });
  });
}

module.exports = { fromOptions, fromScanResult, tokenFromUrl, tokenFromScene, scanCard, MESSAGES, TOKEN_RE };
