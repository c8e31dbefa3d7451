'use strict';
// One location fix for a visit: wx.getLocation in GCJ-02 (the coordinates Chinese maps and
// WeChat use) with high accuracy. The server converts GCJ-02 to WGS-84; we send what the phone
// said, with the coordinate type and the accuracy.

const { realClock } = require('./retry.js');

const UNKNOWN_ACCURACY_M = 9999;
const MESSAGES = {
  denied: '未获得定位权限。走访需要记录位置，请在设置中允许使用位置信息。',
  failed: '定位失败，请到开阔处重试。走访仍可提交，但会标记为缺少定位。',
};

function toFix(res, clock) {
  const accuracy = Number(res.accuracy !== undefined ? res.accuracy : res.horizontalAccuracy);
  return {
    lat: Number(res.latitude),
    lon: Number(res.longitude),
    accuracy: Number.isFinite(accuracy) && accuracy >= 0 ? accuracy : null,
    altitude: Number.isFinite(Number(res.altitude)) && res.altitude !== null && res.altitude !== undefined ? Number(res.altitude) : null,
    coord: 'gcj02',
    captured_at: new Date(clock.now()).toISOString(),
  };
}

/** Resolve {lat, lon, accuracy, altitude, coord: "gcj02", captured_at}; reject {code, message}. */
function getFix(wx, options) {
  const o = options || {};
  const clock = o.clock || realClock;
  return new Promise((resolve, reject) => {
    wx.getLocation({
      type: 'gcj02',
      isHighAccuracy: true,
      highAccuracyExpireTime: o.highAccuracyExpireTime || 5000,
      success: (res) => {
        const fix = toFix(res || {}, clock);
        if (!Number.isFinite(fix.lat) || !Number.isFinite(fix.lon)) {
          reject({ code: 'gps.failed', message: MESSAGES.failed });
          return;
        }
        resolve(fix);
      },
      fail: (err) => {
        const text = (err && err.errMsg) || '';
        const denied = /auth|deny|denied|permission/i.test(text);
        reject({ code: denied ? 'gps.denied' : 'gps.failed', message: denied ? MESSAGES.denied : MESSAGES.failed, errMsg: text });
      },
    });
  });
}

/** Like getFix, but resolve {fix: null, error} instead of failing: a visit may go without GPS. */
function tryFix(wx, options) {
  return getFix(wx, options).then(
    (fix) => ({ fix, error: null }),
    (error) => ({ fix: null, error })
  );
}

/** The payload's gps object: the fix without nulls the server would refuse. */
function gpsPayload(fix) {
  if (!fix) return null;
  // An unknown accuracy is sent as very poor, never as 0 (exactly 0 is the mock-location sign).
  const accuracy = fix.accuracy === null || fix.accuracy === undefined ? UNKNOWN_ACCURACY_M : fix.accuracy;
  const out = { lat: fix.lat, lon: fix.lon, accuracy, coord: fix.coord || 'gcj02' };
  if (fix.altitude !== null && fix.altitude !== undefined) out.altitude = fix.altitude;
  if (fix.captured_at) out.captured_at = fix.captured_at;
  return out;
}

module.exports = { getFix, tryFix, gpsPayload, toFix, MESSAGES };
