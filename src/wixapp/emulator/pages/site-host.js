// The emulator's "Wix site": plays the part of the Wix viewer for one app widget.
// Loads the widget bundle from the app's backend, places the element, and injects a token
// getter through the element's accessTokenListener, as a Wix site does. The widget code is
// the unchanged production bundle; all pretending lives here.
//
// Query: ?instanceId=…&backend=…&appId=… [&subject=VISITOR|MEMBER] [&token=fixed]
//        [&kind=element|react] [&lifetime=seconds] [&lang=en]
// Tokens are minted per request by the emulator's control API on this page's origin.
(function () {
  'use strict';

  var KINDS = {
    element: { script: 'widget.js', tag: 'wixapp-widget' },
    react: { script: 'widget-react.js', tag: 'wixapp-widget-react' },
  };

  var params = new URLSearchParams(window.location.search);
  var config = {
    instanceId: params.get('instanceId') || '',
    backend: (params.get('backend') || '').replace(/\/+$/, ''),
    appId: params.get('appId') || '',
    subject: (params.get('subject') || 'VISITOR').toUpperCase(),
    token: params.get('token'),
    kind: KINDS[params.get('kind')] ? params.get('kind') : 'element',
    lifetime: Number(params.get('lifetime') || 3600),
  };

  // A Wix site page carries its language here; @wix/site sends it as x-wix-linguist.
  var lang = params.get('lang') || 'en';
  if (lang !== 'none') {
    window.commonConfig = { language: lang, locale: lang === 'en' ? 'en-us' : lang };
  }

  /** What the page did, for people and tests: window.wixHost. */
  var host = {
    kind: 'site',
    config: config,
    tokensMinted: 0,
    tokenCalls: 0,
    injected: false,
    errors: [],
  };
  window.wixHost = host;

  function log(text, kind) {
    var line = document.createElement('li');
    line.textContent = new Date().toISOString().slice(11, 23) + ' ' + text;
    line.dataset.kind = kind || 'info';
    var list = document.getElementById('host-log');
    if (list) list.append(line);
    if (kind === 'error') {
      host.errors.push(text);
      console.error('site host: ' + text);
    }
  }

  function setStatus(state) {
    document.body.dataset.hostState = state;
    var status = document.getElementById('host-status');
    if (status) status.textContent = state;
  }

  /** The getter the Wix site hands to the widget: a fresh token on every call. */
  function tokenGetter() {
    host.tokenCalls += 1;
    if (config.token) {
      return Promise.resolve(config.token);
    }
    return fetch('/_emulator/tokens', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        instanceId: config.instanceId,
        subjectType: config.subject,
        lifetime: config.lifetime,
      }),
    }).then(function (response) {
      if (!response.ok) {
        return response.text().then(function (text) {
          log('POST /_emulator/tokens answered HTTP ' + response.status + ': ' + text, 'error');
          throw new Error('The emulator did not mint a token (HTTP ' + response.status + ')');
        });
      }
      return response.json().then(function (body) {
        host.tokensMinted += 1;
        return body.token;
      });
    });
  }

  function main() {
    var kind = KINDS[config.kind];
    document.getElementById('host-instance').textContent = config.instanceId || '(none)';
    document.getElementById('host-subject').textContent = config.token ? 'fixed token' : config.subject;
    var missing = ['backend', 'appId'].filter(function (key) { return !config[key]; });
    if (!config.instanceId && !config.token) missing.unshift('instanceId (or token)');
    if (missing.length) {
      log('missing query parameters: ' + missing.join(', '), 'error');
      setStatus('error');
      return;
    }

    var script = document.createElement('script');
    script.src = config.backend + '/static/' + kind.script;
    script.onerror = function () {
      log('could not load ' + script.src, 'error');
      setStatus('error');
    };
    document.head.append(script);

    var element = document.createElement(kind.tag);
    element.setAttribute('backend-url', config.backend);
    element.setAttribute('app-id', config.appId);
    element.id = 'widget';
    document.getElementById('site-widget-slot').append(element);
    setStatus('loading');

    // Only once the bundle has defined (and so upgraded) the element does it have a listener.
    customElements.whenDefined(kind.tag).then(function () {
      element.accessTokenListener(tokenGetter);
      host.injected = true;
      log('injected the token getter into <' + kind.tag + '>');
      setStatus('ready');
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', main, { once: true });
  } else {
    main();
  }
})();
