/* Xã Số web chat client.
 *
 * Plain ES5-style JavaScript (no build step, no framework) so it also runs on
 * old and cheap phone browsers.  Server text is only ever rendered with
 * textContent, never as HTML; web addresses and phone numbers in it become
 * links (http(s) and tel: only), as do the reply's *_url fields and buttons.
 *
 * Storage:
 *   localStorage   xaso.token   bearer token of the chat session
 *                  xaso.after   highest notification id already shown
 *                  xaso.lang    "vi" | "en"
 *                  xaso.user_id user id returned with the token (informative)
 *   sessionStorage xaso.transcript  rendered conversation (so a reload keeps it)
 *                  xaso.draft       text typed but not yet sent
 */
(function () {
  'use strict';

  var API_SESSIONS = '/api/chat/sessions';
  var API_MESSAGES = '/api/chat/messages';

  var K_TOKEN = 'xaso.token';
  var K_AFTER = 'xaso.after';
  var K_LANG = 'xaso.lang';
  var K_USER = 'xaso.user_id';
  var S_TRANSCRIPT = 'xaso.transcript';
  var S_DRAFT = 'xaso.draft';

  var MAX_FILE_BYTES = 10 * 1024 * 1024;
  var SHRINK_OVER_BYTES = 2 * 1024 * 1024;   // big camera photos are scaled down
  var SHRINK_MAX_SIDE = 2000;
  var MAX_TRANSCRIPT = 300;
  var POLL_MS = 3000;
  var POLL_HIDDEN_MS = 15000;
  var POLL_MAX_MS = 60000;
  var SEND_RETRY_DELAYS = [2000, 4000, 8000, 15000, 30000, 30000, 30000, 30000];
  var TIMEOUT_SESSION_MS = 30000;
  var TIMEOUT_SEND_MS = 90000;
  var TIMEOUT_UPLOAD_MS = 180000;
  var TIMEOUT_POLL_MS = 20000;

  var ALLOWED_TYPES = { 'image/jpeg': true, 'image/png': true, 'application/pdf': true };

  var STRINGS = {
    vi: {
      title: 'Xã Số — Trợ lý xã',
      placeholder: 'Nhập tin nhắn…',
      inputLabel: 'Tin nhắn',
      send: 'Gửi',
      attach: 'Gửi ảnh hoặc tệp PDF',
      fileLabel: 'Chọn ảnh hoặc tệp PDF',
      location: 'Gửi vị trí',
      sendLocation: '📍 Gửi vị trí',
      langGroup: 'Ngôn ngữ / Language',
      log: 'Cuộc trò chuyện',
      typing: 'Trợ lý đang trả lời',
      offline: 'Mất kết nối, đang thử lại…',
      gaveUp: 'Chưa gửi được tin nhắn vì mất kết nối. Bạn kiểm tra mạng rồi gửi lại nhé.',
      generic: 'Xin lỗi, hệ thống đang bận. Bạn vui lòng thử lại sau ít phút nhé.',
      badRequest: 'Xin lỗi, tin nhắn chưa gửi được. Bạn thử lại nhé.',
      rateLimited: 'Bạn gửi hơi nhanh. Xin đợi một chút rồi thử lại nhé.',
      tooBig: 'Tệp quá lớn (tối đa 10 MB). Bạn vui lòng chọn ảnh hoặc tệp nhỏ hơn nhé.',
      badType: 'Chỉ gửi được ảnh (JPG, PNG) hoặc tệp PDF. Bạn vui lòng chọn tệp khác nhé.',
      readFail: 'Không đọc được tệp này. Bạn thử chọn lại nhé.',
      image: 'Hình ảnh',
      audio: 'Nghe âm thanh',
      doc: '📄 Tải tài liệu',
      myLocation: '📍 Vị trí của tôi',
      locating: 'Đang lấy vị trí…',
      locDenied: 'Bạn chưa cho phép chia sẻ vị trí. Hãy bật quyền vị trí cho trình duyệt rồi thử lại nhé.',
      locUnavailable: 'Chưa xác định được vị trí. Bạn bật GPS hoặc ra chỗ thoáng rồi thử lại nhé.',
      locTimeout: 'Lấy vị trí quá lâu. Bạn thử lại nhé.',
      locUnsupported: 'Điện thoại hoặc trình duyệt này chưa gửi được vị trí.',
      phoneLabel: 'Số điện thoại của bạn',
      phoneSend: 'Gửi số',
      phoneInvalid: 'Số điện thoại chưa đúng. Bạn nhập lại giúp nhé (ví dụ 0912 345 678).',
      phonePrefix: '📞 ',
      attachPrefix: '📎 ',
      copied: '✅ Đã chép'
    },
    en: {
      title: 'Xã Số — Trợ lý xã',
      placeholder: 'Message…',
      inputLabel: 'Message',
      send: 'Send',
      attach: 'Send a photo or PDF',
      fileLabel: 'Choose a photo or PDF',
      location: 'Send location',
      sendLocation: '📍 Send location',
      langGroup: 'Ngôn ngữ / Language',
      log: 'Conversation',
      typing: 'The assistant is typing',
      offline: 'Connection lost, retrying…',
      gaveUp: 'Your message could not be sent (no connection). Please check your network and send it again.',
      generic: 'Sorry, the service is busy. Please try again in a few minutes.',
      badRequest: 'Sorry, that message could not be sent. Please try again.',
      rateLimited: 'You are sending a little fast. Please wait a moment and try again.',
      tooBig: 'The file is too large (10 MB at most). Please choose a smaller photo or file.',
      badType: 'Only photos (JPG, PNG) or PDF files can be sent. Please choose another file.',
      readFail: 'This file could not be read. Please choose it again.',
      image: 'Image',
      audio: 'Listen',
      doc: '📄 Download document',
      myLocation: '📍 My location',
      locating: 'Getting your location…',
      locDenied: 'Location sharing is not allowed. Please allow location for the browser and try again.',
      locUnavailable: 'Your location could not be found. Turn on GPS or move outdoors and try again.',
      locTimeout: 'Getting your location took too long. Please try again.',
      locUnsupported: 'This phone or browser cannot send a location.',
      phoneLabel: 'Your phone number',
      phoneSend: 'Send number',
      phoneInvalid: 'That phone number does not look right. Please type it again (e.g. 0912 345 678).',
      phonePrefix: '📞 ',
      attachPrefix: '📎 ',
      copied: '✅ Copied'
    }
  };

  /* ------------------------------------------------------------------ */
  /* storage (falls back to memory when storage is blocked or full)      */

  var memory = {};

  function storageGet(kind, key) {
    try {
      var v = window[kind].getItem(key);
      return v === null ? (memory[kind + key] === undefined ? null : memory[kind + key]) : v;
    } catch (e) {
      return memory[kind + key] === undefined ? null : memory[kind + key];
    }
  }

  function storageSet(kind, key, value) {
    memory[kind + key] = value;
    try {
      if (value === null) window[kind].removeItem(key);
      else window[kind].setItem(key, value);
      return true;
    } catch (e) {
      return false;
    }
  }

  function lsGet(k) { return storageGet('localStorage', k); }
  function lsSet(k, v) { return storageSet('localStorage', k, v); }
  function ssGet(k) { return storageGet('sessionStorage', k); }
  function ssSet(k, v) { return storageSet('sessionStorage', k, v); }

  function loadTranscript() {
    var raw = ssGet(S_TRANSCRIPT);
    if (!raw) return [];
    try {
      var list = JSON.parse(raw);
      return Object.prototype.toString.call(list) === '[object Array]' ? list : [];
    } catch (e) {
      return [];
    }
  }

  /* ------------------------------------------------------------------ */
  /* state and DOM                                                        */

  var state = {
    token: lsGet(K_TOKEN),
    after: parseInt(lsGet(K_AFTER) || '0', 10) || 0,
    lang: lsGet(K_LANG) === 'en' ? 'en' : 'vi',
    transcript: loadTranscript(),
    pending: 0,
    queue: Promise.resolve(),
    sessionPromise: null,
    pollTimer: null,
    polling: false,
    pollFails: 0,
    offlineEl: null,
    typingEl: null,
    wakeRetry: null,
    locating: false,
    lastTap: { el: null, at: 0 },
    phoneSeq: 0
  };

  var $ = function (id) { return document.getElementById(id); };
  var list = $('xaso-messages');
  var form = $('xaso-composer');
  var input = $('xaso-input');
  var sendBtn = $('xaso-send');
  var fileInput = $('xaso-file');
  var attachBtn = $('xaso-attach');
  var locBtn = $('xaso-location');
  var app = $('xaso-app');

  function t(key) {
    var table = STRINGS[state.lang] || STRINGS.vi;
    return table[key] !== undefined ? table[key] : STRINGS.vi[key];
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function isNearBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 120;
  }

  function scrollToBottom() {
    list.scrollTop = list.scrollHeight;
    if (window.requestAnimationFrame) {
      window.requestAnimationFrame(function () { list.scrollTop = list.scrollHeight; });
    }
  }

  /* Only http(s) addresses (absolute or relative to this site) become links. */
  function safeUrl(value) {
    if (typeof value !== 'string' || !value) return null;
    var trimmed = value.replace(/^\s+|\s+$/g, '');
    if (!trimmed) return null;
    var a = document.createElement('a');
    a.href = trimmed;
    var proto = (a.protocol || '').toLowerCase();
    if (proto !== 'http:' && proto !== 'https:') return null;
    return a.href;
  }

  /* A `tel:` address with digits only (and a leading +), or null. */
  function telUrl(value) {
    if (typeof value !== 'string') return null;
    var m = /^tel:(\+?[0-9]{3,15})$/i.exec(value.replace(/\s+/g, ''));
    return m ? 'tel:' + m[1] : null;
  }

  /* Web addresses and Vietnamese phone numbers in a text become links to tap; everything else stays
   * text (textContent), so nothing the server sends is ever parsed as HTML. */
  var LINK_RE = /(https?:\/\/[^\s<>"'«»]+)|((?:\+84|\b0)(?:[ .]?\d){8,10}\b|\b11[345]\b(?![.,]\d))/g;
  var TRAILING_RE = /[.,;:!?)\]»]+$/;

  function linkified(text) {
    var box = el('div', 'xaso-text');
    var last = 0;
    var m;
    LINK_RE.lastIndex = 0;
    while ((m = LINK_RE.exec(text)) !== null) {
      var found = m[0];
      var start = m.index;
      var trail = '';
      if (m[1]) {
        var cut = TRAILING_RE.exec(found);
        if (cut) { trail = cut[0]; found = found.slice(0, found.length - trail.length); }
      }
      var href = m[1] ? safeUrl(found) : 'tel:' + found.replace(/[ .]/g, '');
      if (!href) continue;
      if (start > last) box.appendChild(document.createTextNode(text.slice(last, start)));
      var a = el('a', m[1] ? 'xaso-inline-link' : 'xaso-inline-tel', found);
      a.href = href;
      if (m[1]) { a.target = '_blank'; a.rel = 'noopener noreferrer'; }
      box.appendChild(a);
      if (trail) box.appendChild(document.createTextNode(trail));
      last = start + m[0].length;
    }
    if (last < text.length) box.appendChild(document.createTextNode(text.slice(last)));
    return box;
  }

  /* ------------------------------------------------------------------ */
  /* rendering                                                            */

  function renderUser(entry) {
    var row = el('div', 'xaso-row xaso-row-user');
    var bubble = el('div', 'xaso-bubble xaso-user', entry.text || '');
    if (entry.unsent) bubble.className += ' xaso-unsent';
    row.appendChild(bubble);
    return row;
  }

  function renderSystem(text, extraClass) {
    var node = el('div', 'xaso-system' + (extraClass ? ' ' + extraClass : ''), text);
    node.setAttribute('role', 'status');
    return node;
  }

  function buttonDataAttr(data) {
    if (typeof data === 'string') return data;
    try { return JSON.stringify(data); } catch (e) { return String(data); }
  }

  function renderBot(entry) {
    var row = el('div', 'xaso-row xaso-row-bot');
    var bubble = el('div', 'xaso-bubble xaso-bot');
    var hasContent = false;

    if (entry.kind === 'emergency') {
      bubble.className += ' xaso-emergency';
      row.className += ' xaso-row-emergency';
      bubble.setAttribute('role', 'alert');
    }
    if (typeof entry.text === 'string' && entry.text !== '') {
      bubble.appendChild(linkified(entry.text));
      hasContent = true;
    }

    var imageUrl = safeUrl(entry.image_url);
    if (imageUrl) {
      var link = el('a', 'xaso-media xaso-image-link');
      link.href = imageUrl;
      link.target = '_blank';
      link.rel = 'noopener noreferrer';
      var img = el('img', 'xaso-image');
      img.alt = t('image');
      img.decoding = 'async';
      img.addEventListener('load', function () {
        if (isNearBottom() || row === list.lastElementChild) scrollToBottom();
      });
      img.src = imageUrl;
      link.appendChild(img);
      bubble.appendChild(link);
      hasContent = true;
    }

    var audioUrl = safeUrl(entry.audio_url);
    if (audioUrl) {
      var audio = el('audio', 'xaso-media xaso-audio');
      audio.controls = true;
      audio.preload = 'none';
      audio.src = audioUrl;
      audio.setAttribute('aria-label', t('audio'));
      var fallback = el('a', null, t('audio'));
      fallback.href = audioUrl;
      audio.appendChild(fallback);
      bubble.appendChild(audio);
      hasContent = true;
    }

    var docUrl = safeUrl(entry.document_url);
    if (docUrl) {
      var doc = el('a', 'xaso-media xaso-doc', t('doc'));
      doc.href = docUrl;
      doc.setAttribute('download', '');
      doc.target = '_blank';
      doc.rel = 'noopener noreferrer';
      bubble.appendChild(doc);
      hasContent = true;
    }

    if (hasContent) row.appendChild(bubble);

    var buttons = entry.buttons;
    var actions = [];
    var copies = entry.copy;  /* first: what to paste into a banking app */
    if (copies && copies.length) {
      for (var c = 0; c < copies.length; c++) {
        var item = copies[c];
        if (!item || typeof item.value !== 'string') continue;
        var cp = el('button', 'xaso-action xaso-copy', String(item.label || item.value));
        cp.type = 'button';
        cp.setAttribute('data-copy', item.value);
        actions.push(cp);
      }
    }
    if (buttons && buttons.length) {
      for (var i = 0; i < buttons.length; i++) {
        var b = buttons[i];
        if (!b) continue;
        var data = b.data !== undefined && b.data !== null ? b.data : b.label;
        var label = b.label !== undefined && b.label !== null ? b.label : buttonDataAttr(data);
        if (typeof b.url === 'string' && /^https?:\/\//i.test(b.url)) {
          var link = el('a', 'xaso-action xaso-link', label);
          link.href = b.url;
          link.target = '_blank';
          link.rel = 'noopener noreferrer';
          actions.push(link);
          continue;
        }
        var tel = telUrl(b.url);
        if (tel) {
          var call = el('a', 'xaso-action xaso-call', label);
          call.href = tel;
          actions.push(call);
          continue;
        }
        var btn = el('button', 'xaso-button', label);
        btn.type = 'button';
        btn.setAttribute('data-data', buttonDataAttr(data));
        btn.xasoData = data;
        actions.push(btn);
      }
    }
    if (entry.request_location) {
      var loc = el('button', 'xaso-action xaso-request-location', t('sendLocation'));
      loc.type = 'button';
      actions.push(loc);
    }
    if (actions.length) {
      var wrap = el('div', 'xaso-buttons');
      for (var j = 0; j < actions.length; j++) wrap.appendChild(actions[j]);
      row.appendChild(wrap);
    }

    if (entry.request_phone) {
      state.phoneSeq += 1;
      var pid = 'xaso-phone-' + state.phoneSeq;
      var pform = el('form', 'xaso-phone-form');
      pform.setAttribute('novalidate', '');
      var plabel = el('label', null, t('phoneLabel'));
      plabel.htmlFor = pid;
      var pinput = el('input', 'xaso-phone-input');
      pinput.type = 'tel';
      pinput.id = pid;
      pinput.name = 'phone';
      pinput.setAttribute('inputmode', 'tel');
      pinput.setAttribute('autocomplete', 'tel');
      pinput.setAttribute('maxlength', '20');
      pinput.placeholder = '0912 345 678';
      var psend = el('button', 'xaso-action xaso-phone-send', t('phoneSend'));
      psend.type = 'submit';
      pform.appendChild(plabel);
      pform.appendChild(pinput);
      pform.appendChild(psend);
      row.appendChild(pform);
    }

    return row;
  }

  function renderEntry(entry) {
    if (!entry || typeof entry !== 'object') return null;
    if (entry.r === 'u') return renderUser(entry);
    if (entry.r === 's') return renderSystem(entry.text);
    if (entry.r === 'b') return renderBot(entry);
    return null;
  }

  function isTrailing(node) {
    return node && (node === state.typingEl || node === state.offlineEl ||
      (node.className && String(node.className).indexOf('xaso-transient') >= 0));
  }

  /* Append before the trailing typing indicator / connection line, if any. */
  function appendNode(node) {
    if (!node) return;
    var anchor = null;
    var last = list.lastChild;
    while (last && isTrailing(last)) {
      anchor = last;
      last = last.previousSibling;
    }
    if (anchor) list.insertBefore(node, anchor);
    else list.appendChild(node);
    scrollToBottom();
  }

  function saveTranscript() {
    if (state.transcript.length > MAX_TRANSCRIPT) {
      state.transcript = state.transcript.slice(-MAX_TRANSCRIPT);
    }
    var raw = JSON.stringify(state.transcript);
    while (!ssSet(S_TRANSCRIPT, raw) && state.transcript.length > 10) {
      state.transcript = state.transcript.slice(Math.floor(state.transcript.length / 2));
      raw = JSON.stringify(state.transcript);
    }
  }

  function addEntry(entry) {
    state.transcript.push(entry);
    saveTranscript();
    var node = renderEntry(entry);
    appendNode(node);
    return node;
  }

  function copyItems(raw) {
    var items = [];
    if (raw && raw.length) {
      for (var i = 0; i < raw.length; i++) {
        var it = raw[i];
        if (it && typeof it.value === 'string') items.push({ label: String(it.label || ''), value: it.value });
      }
    }
    return items;
  }

  function botEntry(reply) {
    reply = reply || {};
    var buttons = [];
    if (reply.buttons && reply.buttons.length) {
      for (var i = 0; i < reply.buttons.length; i++) {
        var b = reply.buttons[i];
        if (b && typeof b === 'object') buttons.push({ label: b.label, data: b.data, url: b.url || null });
      }
    }
    return {
      r: 'b',
      kind: typeof reply.kind === 'string' ? reply.kind : null,
      copy: copyItems(reply.copy),
      text: typeof reply.text === 'string' ? reply.text : (reply.text == null ? '' : String(reply.text)),
      buttons: buttons,
      audio_url: reply.audio_url || null,
      image_url: reply.image_url || null,
      document_url: reply.document_url || null,
      request_location: !!reply.request_location,
      request_phone: !!reply.request_phone
    };
  }

  function addSystem(text) {
    return addEntry({ r: 's', text: text });
  }

  function showTyping() {
    if (!state.typingEl) {
      var row = el('div', 'xaso-row xaso-row-bot xaso-typing-row');
      var dots = el('div', 'xaso-typing', '…');
      dots.id = 'xaso-typing';
      dots.setAttribute('role', 'status');
      dots.setAttribute('aria-label', t('typing'));
      row.appendChild(dots);
      state.typingEl = row;
    }
    if (state.offlineEl && state.offlineEl.parentNode === list) list.insertBefore(state.typingEl, state.offlineEl);
    else list.appendChild(state.typingEl);
    scrollToBottom();
  }

  function hideTyping() {
    if (state.typingEl && state.typingEl.parentNode) state.typingEl.parentNode.removeChild(state.typingEl);
  }

  function showOffline() {
    if (!state.offlineEl) {
      state.offlineEl = renderSystem(t('offline'), 'xaso-offline');
      state.offlineEl.id = 'xaso-offline';
    }
    if (state.offlineEl.parentNode !== list || list.lastChild !== state.offlineEl) {
      list.appendChild(state.offlineEl);
      scrollToBottom();
    }
  }

  function clearOffline() {
    if (state.offlineEl && state.offlineEl.parentNode) {
      state.offlineEl.parentNode.removeChild(state.offlineEl);
    }
    state.offlineEl = null;
  }

  function updateBusy() {
    sendBtn.disabled = state.pending > 0;
    list.setAttribute('aria-busy', state.pending > 0 ? 'true' : 'false');
  }

  /* ------------------------------------------------------------------ */
  /* network                                                              */

  function networkError() {
    var e = new Error('network');
    e.network = true;
    return e;
  }

  function httpError(res) {
    var e = new Error('http ' + res.status);
    e.status = res.status;
    e.data = res.data;
    e.retryAfter = res.retryAfter;
    return e;
  }

  function rawFetch(method, path, body, token, timeoutMs) {
    var ctrl = typeof AbortController !== 'undefined' ? new AbortController() : null;
    var timer = null;
    var headers = { 'Accept': 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers['Authorization'] = 'Bearer ' + token;
    var opts = {
      method: method,
      headers: headers,
      credentials: 'same-origin',
      cache: 'no-store'
    };
    if (body !== undefined) opts.body = JSON.stringify(body);
    if (ctrl) {
      opts.signal = ctrl.signal;
      timer = setTimeout(function () { ctrl.abort(); }, timeoutMs);
    }
    return fetch(path, opts).then(function (res) {
      return res.text().then(function (txt) {
        var data = null;
        if (txt) {
          try { data = JSON.parse(txt); } catch (e) { data = null; }
        }
        var retryAfter = parseInt(res.headers.get('Retry-After') || '', 10);
        return { status: res.status, ok: res.ok, data: data, retryAfter: isNaN(retryAfter) ? 0 : retryAfter };
      });
    }).then(function (res) {
      if (timer) clearTimeout(timer);
      return res;
    }, function () {
      if (timer) clearTimeout(timer);
      throw networkError();
    });
  }

  function setToken(token) {
    state.token = token || null;
    lsSet(K_TOKEN, state.token);
  }

  function setAfter(id) {
    state.after = id;
    lsSet(K_AFTER, String(id));
  }

  /* A commune's own entry link or QR code (/chat?commune=SM): the new session belongs to it. */
  function entryCommune() {
    try {
      var code = new URLSearchParams(window.location.search).get('commune');
      return code && /^[A-Za-z]{2,4}$/.test(code) ? code.toUpperCase() : null;
    } catch (e) {
      return null;
    }
  }

  function ensureSession() {
    if (state.token) return Promise.resolve(state.token);
    if (!state.sessionPromise) {
      var body = { language: state.lang };
      var commune = entryCommune();
      if (commune) body.commune = commune;
      state.sessionPromise = rawFetch('POST', API_SESSIONS, body, null, TIMEOUT_SESSION_MS)
        .then(function (res) {
          state.sessionPromise = null;
          if (res.ok && res.data && typeof res.data.token === 'string' && res.data.token) {
            setToken(res.data.token);
            if (res.data.user_id !== undefined && res.data.user_id !== null) lsSet(K_USER, String(res.data.user_id));
            setAfter(0);
            return res.data.token;
          }
          throw httpError(res);
        }, function (err) {
          state.sessionPromise = null;
          throw err;
        });
    }
    return state.sessionPromise;
  }

  /* One authorised call; on 401 make a new session and retry once. */
  function api(method, path, body, timeoutMs, retried) {
    return ensureSession().then(function (token) {
      return rawFetch(method, path, body, token, timeoutMs).then(function (res) {
        if (res.status === 401 && !retried) {
          if (state.token === token) setToken(null);
          return api(method, path, body, timeoutMs, true);
        }
        return res;
      });
    });
  }

  function wait(ms) {
    return new Promise(function (resolve) {
      var done = false;
      var timer = setTimeout(finish, ms);
      function finish() {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (state.wakeRetry === finish) state.wakeRetry = null;
        resolve();
      }
      state.wakeRetry = finish;
    });
  }

  function wakeRetry() {
    if (state.wakeRetry) state.wakeRetry();
  }

  /* POST a message; retries on network failure, rejects on HTTP errors. */
  function postMessage(payload, timeoutMs) {
    var attempt = 0;
    function tryOnce() {
      return api('POST', API_MESSAGES, payload, timeoutMs).then(function (res) {
        if (!res.ok) throw httpError(res);
        clearOffline();
        return res.data || {};
      }, function (err) {
        if (!err || !err.network) throw err;
        if (attempt >= SEND_RETRY_DELAYS.length) throw err;
        showOffline();
        var delay = SEND_RETRY_DELAYS[attempt];
        attempt += 1;
        return wait(delay).then(tryOnce);
      });
    }
    return tryOnce();
  }

  function errorText(err) {
    if (err && err.data && typeof err.data.message === 'string') {
      var msg = err.data.message.replace(/^\s+|\s+$/g, '');
      if (msg) return msg.length > 500 ? msg.slice(0, 500) + '…' : msg;
    }
    var status = err && err.status;
    if (status === 413) return t('tooBig');
    if (status === 429) return t('rateLimited');
    if (status === 400) return t('badRequest');
    return t('generic');
  }

  function enqueue(task) {
    state.queue = state.queue.then(task, task);
    return state.queue;
  }

  /*
   * Send one payload.  userEntry (optional) is shown at once as the user's
   * bubble; restoreText is put back into the input if the message could not
   * be delivered, so typed text is never lost.
   */
  function submit(payload, userEntry, restoreText, timeoutMs) {
    var userNode = userEntry ? addEntry(userEntry) : null;
    state.pending += 1;
    updateBusy();
    return enqueue(function () {
      showTyping();
      return postMessage(payload, timeoutMs || TIMEOUT_SEND_MS).then(function (data) {
        hideTyping();
        var replies = data && data.replies;
        if (replies && replies.length) {
          for (var i = 0; i < replies.length; i++) addEntry(botEntry(replies[i]));
        }
      }, function (err) {
        hideTyping();
        if (err && err.network) {
          clearOffline();
          addSystem(t('gaveUp'));
        } else {
          addSystem(errorText(err));
        }
        if (userEntry && userNode) {
          userEntry.unsent = true;
          saveTranscript();
          var bubble = userNode.querySelector && userNode.querySelector('.xaso-user');
          if (bubble) bubble.className += ' xaso-unsent';
        }
        if (restoreText && !input.value) {
          input.value = restoreText;
          saveDraft();
        }
      }).then(function () {
        state.pending -= 1;
        updateBusy();
        if (state.token && !state.pollTimer && !state.polling) schedulePoll(POLL_MS);
      });
    });
  }

  /* ------------------------------------------------------------------ */
  /* polling for notifications                                            */

  function schedulePoll(ms) {
    if (state.pollTimer) clearTimeout(state.pollTimer);
    state.pollTimer = setTimeout(poll, ms);
  }

  function pollDelay() {
    var delay = POLL_MS;
    if (state.pollFails > 0) delay = Math.min(POLL_MS * Math.pow(2, state.pollFails), POLL_MAX_MS);
    if (document.hidden) delay = Math.max(delay, POLL_HIDDEN_MS);
    return delay;
  }

  function poll() {
    state.pollTimer = null;
    if (state.polling) return;
    if (!state.token) return;   // polling starts once a session exists
    state.polling = true;
    var next = null;
    api('GET', API_MESSAGES + '?after=' + encodeURIComponent(String(state.after)), undefined, TIMEOUT_POLL_MS)
      .then(function (res) {
        if (res.ok) {
          state.pollFails = 0;
          if (state.offlineEl) {
            clearOffline();
            wakeRetry();
          }
          var msgs = (res.data && res.data.messages) || [];
          var fresh = [];
          for (var i = 0; i < msgs.length; i++) {
            var m = msgs[i];
            if (!m || typeof m !== 'object') continue;
            var id = Number(m.id);
            if (!isFinite(id) || id <= state.after) continue;
            fresh.push({ id: id, msg: m });
          }
          fresh.sort(function (a, b) { return a.id - b.id; });
          var max = state.after;
          for (var j = 0; j < fresh.length; j++) {
            if (fresh[j].id <= max) continue;
            addEntry(botEntry(fresh[j].msg));
            max = fresh[j].id;
          }
          if (max !== state.after) setAfter(max);
        } else {
          state.pollFails = Math.min(state.pollFails + 1, 6);
          if (res.retryAfter > 0) next = Math.min(res.retryAfter * 1000, POLL_MAX_MS * 5);
        }
      }, function (err) {
        state.pollFails = Math.min(state.pollFails + 1, 6);
        if (err && err.network && state.pollFails >= 2) showOffline();
      })
      .then(function () {
        state.polling = false;
        schedulePoll(next !== null ? Math.max(next, pollDelay()) : pollDelay());
      });
  }

  function pollSoon() {
    if (!state.token || state.polling) return;
    schedulePoll(200);
  }

  /* ------------------------------------------------------------------ */
  /* user actions                                                         */

  function saveDraft() {
    ssSet(S_DRAFT, input.value || null);
  }

  function sendText() {
    var text = input.value.replace(/^\s+|\s+$/g, '');
    if (!text) return;
    if (state.pending > 0) return;   // send is disabled while a request is in flight
    input.value = '';
    saveDraft();
    submit({ text: text }, { r: 'u', text: text }, text);
  }

  function tapButton(btn) {
    var now = Date.now();
    if (state.lastTap.el === btn && now - state.lastTap.at < 1200) return;   // double tap
    state.lastTap = { el: btn, at: now };
    var data = btn.xasoData !== undefined ? btn.xasoData : btn.getAttribute('data-data');
    submit({ button: data }, { r: 'u', text: btn.textContent });
  }

  function geoMessage(err) {
    if (err && err.code === 1) return t('locDenied');
    if (err && err.code === 3) return t('locTimeout');
    return t('locUnavailable');
  }

  function shareLocation() {
    if (!navigator.geolocation) {
      addSystem(t('locUnsupported'));
      return;
    }
    if (state.locating) return;
    state.locating = true;
    var note = renderSystem(t('locating'), 'xaso-transient');
    appendNode(note);
    function done() {
      state.locating = false;
      if (note.parentNode) note.parentNode.removeChild(note);
    }
    try {
      navigator.geolocation.getCurrentPosition(function (pos) {
        done();
        submit(
          { location: { lat: pos.coords.latitude, lon: pos.coords.longitude } },
          { r: 'u', text: t('myLocation') }
        );
      }, function (err) {
        done();
        addSystem(geoMessage(err));
      }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
    } catch (e) {
      done();
      addSystem(t('locUnsupported'));
    }
  }

  function submitPhone(pform) {
    var pinput = pform.querySelector('input');
    if (!pinput) return;
    var raw = pinput.value || '';
    var clean = raw.replace(/[\s.\-()]/g, '');
    if (!/^\+?\d{8,15}$/.test(clean)) {
      addSystem(t('phoneInvalid'));
      return;
    }
    pinput.value = '';
    submit({ contact: { phone: clean } }, { r: 'u', text: t('phonePrefix') + clean });
  }

  function guessType(name) {
    var n = (name || '').toLowerCase();
    if (/\.(jpe?g)$/.test(n)) return 'image/jpeg';
    if (/\.png$/.test(n)) return 'image/png';
    if (/\.pdf$/.test(n)) return 'application/pdf';
    return '';
  }

  function readBase64(blob) {
    return new Promise(function (resolve, reject) {
      var reader = new FileReader();
      reader.onload = function () {
        var result = String(reader.result || '');
        var comma = result.indexOf(',');
        resolve(comma >= 0 ? result.slice(comma + 1) : '');
      };
      reader.onerror = function () { reject(reader.error || new Error('read')); };
      reader.readAsDataURL(blob);
    });
  }

  /*
   * Large JPEG camera photos are scaled down (longest side 2000 px) to save
   * the villager's data plan.  Only on browsers that honour EXIF orientation
   * when drawing, so photos are never sent sideways; any failure keeps the
   * original file.
   */
  function maybeShrink(file, type) {
    var keep = { blob: file, type: type, name: file.name || 'tep' };
    var canShrink = type === 'image/jpeg' && file.size > SHRINK_OVER_BYTES &&
      window.URL && URL.createObjectURL && HTMLCanvasElement.prototype.toBlob &&
      ('imageOrientation' in document.documentElement.style);
    if (!canShrink) return Promise.resolve(keep);
    return new Promise(function (resolve) {
      var url = URL.createObjectURL(file);
      var img = new Image();
      img.onload = function () {
        try {
          var w = img.naturalWidth, h = img.naturalHeight;
          var scale = Math.min(1, SHRINK_MAX_SIDE / Math.max(w, h));
          if (scale >= 1) { URL.revokeObjectURL(url); resolve(keep); return; }
          var canvas = document.createElement('canvas');
          canvas.width = Math.round(w * scale);
          canvas.height = Math.round(h * scale);
          canvas.getContext('2d').drawImage(img, 0, 0, canvas.width, canvas.height);
          URL.revokeObjectURL(url);
          canvas.toBlob(function (blob) {
            if (blob && blob.size > 0 && blob.size < file.size) {
              resolve({ blob: blob, type: 'image/jpeg', name: keep.name });
            } else {
              resolve(keep);
            }
          }, 'image/jpeg', 0.85);
        } catch (e) {
          URL.revokeObjectURL(url);
          resolve(keep);
        }
      };
      img.onerror = function () { URL.revokeObjectURL(url); resolve(keep); };
      img.src = url;
    });
  }

  function handleFile(file) {
    var type = file.type || guessType(file.name);
    if (type === 'image/jpg') type = 'image/jpeg';
    if (!ALLOWED_TYPES[type]) {
      addSystem(t('badType'));
      return;
    }
    if (file.size > MAX_FILE_BYTES) {
      addSystem(t('tooBig'));
      return;
    }
    maybeShrink(file, type).then(function (prepared) {
      return readBase64(prepared.blob).then(function (b64) {
        submit(
          { attachment: { filename: prepared.name, content_type: prepared.type, data: b64 } },
          { r: 'u', text: t('attachPrefix') + (file.name || '') },
          null,
          TIMEOUT_UPLOAD_MS
        );
      });
    }).then(null, function () {
      addSystem(t('readFail'));
    });
  }

  /* ------------------------------------------------------------------ */
  /* language                                                             */

  function applyLanguage() {
    document.documentElement.lang = state.lang;
    $('xaso-title').textContent = t('title');
    document.title = t('title');
    input.placeholder = t('placeholder');
    $('xaso-input-label').textContent = t('inputLabel');
    $('xaso-file-label').textContent = t('fileLabel');
    sendBtn.textContent = t('send');
    attachBtn.setAttribute('aria-label', t('attach'));
    attachBtn.title = t('attach');
    locBtn.setAttribute('aria-label', t('location'));
    locBtn.title = t('location');
    list.setAttribute('aria-label', t('log'));
    $('xaso-lang-vi').setAttribute('aria-pressed', state.lang === 'vi' ? 'true' : 'false');
    $('xaso-lang-en').setAttribute('aria-pressed', state.lang === 'en' ? 'true' : 'false');
    if (state.offlineEl) state.offlineEl.textContent = t('offline');
  }

  function switchLanguage(lang) {
    if (lang !== 'vi' && lang !== 'en') return;
    if (lang === state.lang) return;
    state.lang = lang;
    lsSet(K_LANG, lang);
    applyLanguage();
    submit({ text: '/lang ' + lang }, null);
  }

  /* ------------------------------------------------------------------ */
  /* wiring                                                               */

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    sendText();
  });

  input.addEventListener('input', saveDraft);

  list.addEventListener('click', function (ev) {
    var target = ev.target;
    if (!target || !target.closest) return;
    var btn = target.closest('.xaso-button');
    if (btn && list.contains(btn)) {
      ev.preventDefault();
      tapButton(btn);
      return;
    }
    if (target.closest('.xaso-request-location')) {
      ev.preventDefault();
      shareLocation();
      return;
    }
    var copyBtn = target.closest('.xaso-copy');
    if (copyBtn && list.contains(copyBtn)) {
      ev.preventDefault();
      copyText(copyBtn);
    }
  });

  /* Copies a value (an account number, a transfer note) for pasting into a banking app. */
  function copyText(btn) {
    var value = btn.getAttribute('data-copy') || '';
    var done = function () {
      btn.setAttribute('data-copied', '1');
      btn.textContent = t('copied') + ' ' + value;
    };
    if (navigator.clipboard && navigator.clipboard.writeText && window.isSecureContext) {
      navigator.clipboard.writeText(value).then(done, function () { copyFallback(value, done); });
    } else {
      copyFallback(value, done);
    }
  }

  function copyFallback(value, done) {
    var area = document.createElement('textarea');
    area.value = value;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    try { document.execCommand('copy'); } catch (e) { /* the value stays shown in the message */ }
    document.body.removeChild(area);
    done();
  }

  list.addEventListener('submit', function (ev) {
    var pform = ev.target;
    if (pform && pform.classList && pform.classList.contains('xaso-phone-form')) {
      ev.preventDefault();
      submitPhone(pform);
    }
  });

  attachBtn.addEventListener('click', function () { fileInput.click(); });

  fileInput.addEventListener('change', function () {
    var file = fileInput.files && fileInput.files[0];
    if (!file) return;
    try { fileInput.value = ''; } catch (e) { /* old browsers */ }
    handleFile(file);
  });

  locBtn.addEventListener('click', shareLocation);

  $('xaso-lang-vi').addEventListener('click', function () { switchLanguage('vi'); });
  $('xaso-lang-en').addEventListener('click', function () { switchLanguage('en'); });

  window.addEventListener('online', function () {
    wakeRetry();
    pollSoon();
  });

  window.addEventListener('offline', function () {
    if (state.pending > 0 || state.token) showOffline();
  });

  document.addEventListener('visibilitychange', function () {
    if (!document.hidden) pollSoon();
  });

  // iOS Safari does not shrink 100dvh for the keyboard: follow the visual viewport.
  if (window.visualViewport) {
    var vv = window.visualViewport;
    var onViewport = function () {
      if (vv.height < window.innerHeight - 1) {
        app.style.height = Math.round(vv.height) + 'px';
        window.scrollTo(0, 0);
      } else {
        app.style.height = '';
      }
      scrollToBottom();
    };
    vv.addEventListener('resize', onViewport);
  }

  /* ------------------------------------------------------------------ */
  /* start                                                                */

  applyLanguage();

  for (var i = 0; i < state.transcript.length; i++) {
    var node = renderEntry(state.transcript[i]);
    if (node) list.appendChild(node);
  }
  scrollToBottom();

  var draft = ssGet(S_DRAFT);
  if (draft && !input.value) input.value = draft;

  updateBusy();

  if (!state.transcript.length) {
    submit({ text: '/start' }, null);
  } else if (state.token) {
    schedulePoll(500);
  }

  if (window.matchMedia && window.matchMedia('(pointer: fine)').matches) {
    try { input.focus({ preventScroll: true }); } catch (e) { input.focus(); }
  }
})();
