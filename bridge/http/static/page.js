// The status page's only script: live sections over Server-Sent Events, filters, copy buttons,
// the route tester and the test send. Served by the bridge itself; the CSP allows nothing else.
// Its words come from the page (#page-texts, the config's locale): none are written here.
'use strict';
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  // '' or Home Assistant's ingress prefix: every request the page makes goes under it.
  const base = document.querySelector('meta[name="base-path"]').content;
  const live = document.getElementById('live');
  const texts = JSON.parse(document.getElementById('page-texts').textContent);

  // texts[name] with each {field} replaced, as the catalog writes them (str.format fields).
  function t (name, fields) {
    return texts[name].replace(/\{(\w+)\}/g, function (whole, field) {
      return fields && Object.prototype.hasOwnProperty.call(fields, field) ? String(fields[field]) : whole;
    });
  }

  // Times in the page's language (2026/11/24 21:14:00 in zh-CN); an English page keeps the browser's own way.
  const lang = document.documentElement.lang;
  const timeLocale = lang && lang !== 'en' ? lang : undefined;

  function localTimes (root) {
    root.querySelectorAll('time[datetime]').forEach(function (time) {
      const d = new Date(time.dateTime);
      if (!isNaN(d)) { time.textContent = d.toLocaleString(timeLocale); time.title = time.dateTime; }
    });
  }

  function applyFilter () {
    const status = document.getElementById('filter-status').value;
    const room = document.getElementById('filter-room').value;
    document.querySelectorAll('#deliveries tr.delivery').forEach(function (row) {
      const shown = (!status || row.dataset.status === status) && (!room || row.dataset.room === room);
      row.hidden = !shown;
      const text = row.nextElementSibling;
      if (!shown && text && text.classList.contains('text')) text.hidden = true;
    });
  }

  function swap (name, html) {
    const section = document.getElementById(name);
    if (!section) return;
    // Server-rendered by the page's own autoescaped templates: the same HTML as a page load.
    section.innerHTML = html;
    localTimes(section);
    if (name === 'deliveries') applyFilter();
  }

  function setLive (state, text) { live.dataset.state = state; live.textContent = text; }

  const source = new EventSource(base + '/page/events');
  source.onopen = function () { setLive('live', t('live')); };
  source.onmessage = function (event) {
    const message = JSON.parse(event.data);
    Object.keys(message.sections).forEach(function (name) { swap(name, message.sections[name]); });
    setLive('live', t('live'));
  };
  source.onerror = function () {
    if (source.readyState === EventSource.CLOSED) { window.location.reload(); return; } // session over
    setLive('reconnecting', t('reconnecting'));
  };

  document.getElementById('filter-status').addEventListener('change', applyFilter);
  document.getElementById('filter-room').addEventListener('change', applyFilter);

  document.addEventListener('click', function (event) {
    const button = event.target.closest('button[data-copy]');
    if (button) {
      const value = button.dataset.copy;
      const done = function () { button.textContent = t('copied'); setTimeout(function () { button.textContent = t('copy'); }, 1500); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(value).then(done);
      } else { // plain HTTP on a LAN address: no clipboard API, select the id instead
        const range = document.createRange();
        range.selectNodeContents(button.previousElementSibling);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        try { document.execCommand('copy'); done(); } catch (e) { button.textContent = t('selected'); }
      }
      return;
    }
    const row = event.target.closest('#deliveries tr.delivery.has-text');
    if (row) {
      const text = row.nextElementSibling;
      if (text && text.classList.contains('text')) text.hidden = !text.hidden;
    }
  });

  function post (path, body) {
    return fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (json) { return { ok: response.ok, json: json }; });
    });
  }

  document.getElementById('try-form').addEventListener('submit', function (event) {
    event.preventDefault();
    const out = document.getElementById('try-output');
    out.textContent = '…';
    post(base + '/page/try', {
      topic: document.getElementById('try-topic').value,
      payload: document.getElementById('try-payload').value,
      retained: document.getElementById('try-retained').checked
    }).then(function (r) { out.textContent = r.ok ? r.json.text : t('error', { error: r.json.error }); },
      function (e) { out.textContent = t('error', { error: e }); });
  });

  const sendForm = document.getElementById('send-form');
  if (sendForm) {
    sendForm.addEventListener('submit', function (event) {
      event.preventDefault();
      const result = document.getElementById('send-result');
      result.textContent = '…';
      post(base + '/page/send', {
        room: document.getElementById('send-room').value,
        text: document.getElementById('send-text').value
      }).then(function (r) {
        result.textContent = r.ok ? t('queued', { id: r.json.id }) : t('not_sent', { error: r.json.error });
        result.className = r.ok ? '' : 'error';
      }, function (e) { result.textContent = t('error', { error: e }); });
    });
  }

  // The official bot: start a QR login (a person's button, or any name), and the number the phone shows.
  const ilinkResult = document.getElementById('ilink-result');
  function ilinkAnswer (r, done) {
    if (!ilinkResult) return;
    ilinkResult.textContent = r.ok ? done : t('error', { error: r.json.error });
    ilinkResult.className = r.ok ? '' : 'error';
  }
  function startLogin (name) {
    post(base + '/page/ilink/login', { name: name }).then(function (r) {
      ilinkAnswer(r, t('login_started', { name: name }));
    }, function (e) { ilinkAnswer({ ok: false, json: { error: e } }); });
  }
  document.addEventListener('click', function (event) {
    const button = event.target.closest('button.ilink-login');
    if (button) startLogin(button.dataset.name);
  });
  const ilinkForm = document.getElementById('ilink-login-form');
  if (ilinkForm) {
    ilinkForm.addEventListener('submit', function (event) {
      event.preventDefault();
      startLogin(document.getElementById('ilink-name').value.trim());
    });
  }
  // The verify form is inside a live section: listen on the document, so a re-rendered form works too.
  document.addEventListener('submit', function (event) {
    const form = event.target.closest('form.ilink-verify');
    if (!form) return;
    event.preventDefault();
    post(base + '/page/ilink/verify', { name: form.dataset.name, code: form.elements.code.value })
      .then(function (r) { ilinkAnswer(r, t('code_sent')); },
        function (e) { ilinkAnswer({ ok: false, json: { error: e } }); });
  });

  localTimes(document);
  applyFilter();
})();
