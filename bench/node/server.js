// The Node peers of `make bench`, one Express process:
//
//   GET /get-instance        Wix's documented self-hosted flow, as written in its Node sample:
//                            token-info with axios on every request, no cache.
//   GET /get-instance-data   the documented REST elevation flow on top: token-info, then
//                            client_credentials for the instance, then GET /apps/v1/instance
//                            (three Wix calls per request).
//   GET /const               constant JSON of /get-instance's shape: the Node ceiling.
//
// The only change from the documentation is the Wix base URL, read from WIX_API_BASE_URL so
// the bench can point it at the emulator. PORT, WIX_APP_ID and WIX_APP_SECRET configure the rest.
'use strict';

const express = require('express');
const axios = require('axios');

const WIX_API = process.env.WIX_API_BASE_URL || 'https://www.wixapis.com';
const APP_ID = process.env.WIX_APP_ID;
const APP_SECRET = process.env.WIX_APP_SECRET;
const PORT = Number(process.env.PORT || 3000);
const HOST = process.env.HOST || '127.0.0.1';

const CONSTANT = {
  instanceId: '00000000-0000-4000-8000-000000000000',
  subjectType: 'VISITOR',
  subjectId: '00000000-0000-4000-8000-000000000001',
  siteId: '00000000-0000-4000-8000-000000000002',
};

const app = express();

async function getTokenInfo(accessToken) {
  const response = await axios.post(`${WIX_API}/oauth2/token-info`, { token: accessToken });
  return response.data;
}

async function getAppAccessToken(instanceId) {
  const response = await axios.post(`${WIX_API}/oauth2/token`, {
    grant_type: 'client_credentials',
    client_id: APP_ID,
    client_secret: APP_SECRET,
    instanceId,
  });
  return response.data.access_token;
}

app.get('/get-instance', async (req, res) => {
  try {
    const accessToken = req.headers.authorization;
    const tokenInfo = await getTokenInfo(accessToken);
    res.json({ instanceId: tokenInfo.instanceId });
  } catch (error) {
    res.status(500).json({ error: 'Failed to get instance' });
  }
});

app.get('/get-instance-data', async (req, res) => {
  try {
    const accessToken = req.headers.authorization;
    const { instanceId } = await getTokenInfo(accessToken);
    const appAccessToken = await getAppAccessToken(instanceId);
    const response = await axios.get(`${WIX_API}/apps/v1/instance`, {
      headers: { Authorization: appAccessToken },
    });
    res.json(response.data);
  } catch (error) {
    res.status(500).json({ error: 'Failed to get instance data' });
  }
});

app.get('/const', (req, res) => {
  res.json(CONSTANT);
});

app.get('/healthz', (req, res) => {
  res.json({ status: 'ok' });
});

app.listen(PORT, HOST, () => {
  console.log(`bench node peers on http://${HOST}:${PORT}`);
});
