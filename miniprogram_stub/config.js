'use strict';
// Where the app talks to. API_BASE is the service (its domain must be a registered request
// domain of the mini-program); PUBLIC_BASE_URL is what the card QR codes encode (the server's
// PUBLIC_BASE_URL). For development both point at ./scripts/serve; a developer may override
// the API base on the login page (stored as hhq.apiBase).
module.exports = {
  API_BASE: 'http://127.0.0.1:8000',
  PUBLIC_BASE_URL: 'http://127.0.0.1:8000',
  API_BASE_STORAGE_KEY: 'hhq.apiBase',
};
