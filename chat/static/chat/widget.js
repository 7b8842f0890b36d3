// cxhub chat widget: one <script src=".../static/chat/widget.js" data-inbox="<public_id>"> tag embeds it.
// Everything renders inside a Shadow DOM so the host page's CSS cannot reach it. Text is always
// inserted with textContent; the protocol is DESIGN.md §4 (docs/websocket-protocol.md).
// Works as a classic script or as type="module" (no import/export, no import.meta).
// Its texts are in the visitor's language (docs/i18n.md): every one is marked pgettext("widget", …)
// and comes from the cxhub origin's /i18n/widget/<language>.json; right-to-left languages mirror it.
(function cxhubWidget() {
  "use strict";

  const script =
    document.currentScript ||
    document.querySelector('script[data-inbox][src*="chat/widget.js"]') ||
    document.querySelector("script[data-inbox]");
  if (!script || !script.dataset.inbox) return;
  if (window.__cxhubWidgetLoaded) return;
  window.__cxhubWidgetLoaded = true;

  const INBOX = script.dataset.inbox;
  // A signed-in user of the website: data-external-id + data-identity-hash (HMAC-SHA256 of the
  // external id with the inbox's secret, computed by the website's backend), optional name/email.
  const IDENTITY = {};
  for (const [attribute, field] of [
    ["externalId", "external_id"],
    ["identityHash", "identity_hash"],
    ["name", "name"],
    ["email", "email"],
  ]) {
    if (script.dataset[attribute]) IDENTITY[field] = script.dataset[attribute];
  }
  // The visitor's language: the website's (data-locale, when it knows its user's) wins over the
  // browser's; the server keeps it on the contact and answers with the language it speaks to them.
  const LOCALE = {};
  if (script.dataset.locale) LOCALE.locale = script.dataset.locale;
  if (navigator.language) LOCALE.browser_locale = navigator.language;
  try {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone) LOCALE.time_zone = zone;
  } catch {
    /* no time zone: times still show in the browser's */
  }
  const ORIGIN = new URL(script.src, document.baseURI).origin;
  const STORE_KEY = `cxhub.widget.${INBOX}`;
  const TYPING_IDLE_MS = 3000;
  const DEFAULT_MAX_BODY = 10000; // until the session answer carries the server's limit
  const COUNTER_FROM = 0.9; // the composer's counter shows from 90 % of the limit
  const BACKOFF_START_MS = 500;
  const BACKOFF_MAX_MS = 30000;

  // http(s) URLs and email addresses in a body become links, built by the module the console
  // uses too (/static/chat/linkify.js: text nodes and <a> elements, never HTML; only http:,
  // https: and mailto:; a new tab without opener or referrer). It loads beside the session, so
  // no message is shown before it; should it fail to load, bodies are plain text.
  let linkify = null;
  const linkifyReady = import(new URL("linkify.js", script.src).href).then(
    (module) => {
      linkify = module.linkify;
    },
    () => {},
  );

  // ------------------------------------------------------------------ language
  // The shared module /static/chat/i18n.js (loaded like linkify.js) fetches the catalogue. Until it
  // is here, and should it fail, texts are as written (English). First the website's or the
  // browser's language; once the session answers, the one the server speaks to this visitor.
  let translation = null;
  let i18n = null;
  const i18nLoaded = import(new URL("i18n.js", script.src).href).then(
    (module) => {
      i18n = module;
    },
    () => {},
  );

  function pgettext(context, text) {
    return translation ? translation.pgettext(context, text) : text;
  }

  function npgettext(context, singular, plural, count) {
    if (translation) return translation.npgettext(context, singular, plural, count);
    return count === 1 ? singular : plural;
  }

  function interpolate(format, values) {
    return String(format).replace(/%\(\w+\)s/g, (match) => String(values[match.slice(2, -2)]));
  }

  function formatNumber(value) {
    return translation ? translation.number(value) : String(value);
  }

  let languageLoading = null;
  async function useLanguage(language) {
    await i18nLoaded;
    if (!i18n || !language || (translation && translation.language === language)) return;
    const next = /^en(-|$)/i.test(language)
      ? i18n.ENGLISH
      : await i18n.loadTranslator(`${ORIGIN}/i18n/widget/${encodeURIComponent(language)}.json`, { mode: "cors" });
    if (next === i18n.ENGLISH && translation && !/^en(-|$)/i.test(language)) return; // keep what we have
    translation = next;
    localise();
  }
  const firstLanguage = useLanguage(LOCALE.locale || LOCALE.browser_locale || "en");

  // ------------------------------------------------------------------ styles
  const CSS = `
:host { all: initial; }
*, *::before, *::after { box-sizing: border-box; }
.root { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: #1d2430; -webkit-font-smoothing: antialiased; }
button, input, textarea { font: inherit; color: inherit; margin: 0; }
button { cursor: pointer; }
:focus-visible { outline: 3px solid #8ea6ff; outline-offset: 2px; }
.hidden { display: none !important; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }

.launcher { position: fixed; inset-inline-end: 20px; bottom: 20px; width: 60px; height: 60px; border-radius: 50%;
  border: 0; background: #3b5bdb; color: #fff; box-shadow: 0 6px 20px rgba(31, 42, 68, .35);
  display: grid; place-items: center; z-index: 2147483000; transition: transform .15s ease; }
.launcher:hover { transform: scale(1.05); }
.launcher svg { width: 28px; height: 28px; fill: currentColor; }
.badge { position: absolute; top: -3px; inset-inline-end: -3px; min-width: 22px; height: 22px; padding: 0 6px;
  border-radius: 11px; background: #e03131; color: #fff; font-size: 12px; font-weight: 700;
  display: grid; place-items: center; border: 2px solid #fff; }

.panel { position: fixed; inset-inline-end: 20px; bottom: 92px; width: 370px; height: min(600px, calc(100vh - 120px));
  background: #fff; border-radius: 16px; box-shadow: 0 12px 48px rgba(16, 24, 40, .28);
  display: flex; flex-direction: column; overflow: hidden; z-index: 2147483000; }
.head { background: #1f2a44; color: #fff; padding: 14px 16px; display: flex; align-items: center; gap: 10px; }
.head h2 { font-size: 16px; margin: 0; font-weight: 600; }
.head p { margin: 2px 0 0; font-size: 12px; color: #c9d1e3; }
.head .titles { flex: 1; min-width: 0; }
.close { background: transparent; border: 0; color: #fff; width: 36px; height: 36px; border-radius: 8px;
  font-size: 22px; line-height: 1; }
.close:hover { background: rgba(255, 255, 255, .12); }
.status { font-size: 12px; padding: 6px 16px; background: #fff4e6; color: #8a4b00; }

.body { flex: 1; overflow-y: auto; padding: 14px; background: #f5f6f8; display: flex; flex-direction: column; gap: 8px; }
.msg { max-width: 82%; display: flex; flex-direction: column; gap: 2px; }
.msg .bubble { padding: 8px 12px; border-radius: 14px; white-space: pre-wrap; overflow-wrap: anywhere;
  background: #fff; border: 1px solid #e3e6eb; }
.msg .meta { font-size: 11px; color: #667085; display: flex; gap: 6px; }
.msg.mine { align-self: flex-end; }
.msg.mine .meta { justify-content: flex-end; }
.msg.mine .bubble { background: #3b5bdb; border-color: #3b5bdb; color: #fff; border-end-end-radius: 4px; }
.bubble a { color: #2b45b8; text-decoration: underline; overflow-wrap: anywhere; }
.msg.mine .bubble a { color: #fff; }
.msg.theirs { align-self: flex-start; }
.msg.theirs .bubble { border-end-start-radius: 4px; }
.msg.system { align-self: center; max-width: 95%; }
.msg.system .meta { display: none; }
.msg.system .bubble { background: transparent; border: 0; color: #667085; font-size: 12px; padding: 0; text-align: center; }
.msg.pending .bubble { opacity: .65; }
.msg.failed .bubble { background: #ffe9e9; border-color: #e03131; color: #c92a2a; }
.greeting { align-self: flex-start; }
.closed-notice { align-self: stretch; margin: 0; padding: 6px 10px; border-radius: 8px; background: #fff4e5; color: #6b4200; font-size: 13px; }
.typing { font-size: 12px; color: #667085; padding: 0 16px 4px; min-height: 20px; background: #f5f6f8; font-style: italic; }

.card { background: #fff; border: 1px solid #e3e6eb; border-radius: 12px; padding: 12px; display: grid; gap: 8px; }
.card h3 { font-size: 14px; margin: 0; }
.card p { margin: 0; font-size: 13px; color: #475467; }
.card label { font-size: 13px; font-weight: 500; display: grid; gap: 4px; }
.card input, .card textarea { border: 1px solid #d0d5dd; border-radius: 8px; padding: 8px 10px; background: #fff; width: 100%; }
.card textarea { min-height: 60px; resize: vertical; }
.card input:focus, .card textarea:focus { border-color: #3b5bdb; outline: 2px solid #e8edff; }
.primary { background: #3b5bdb; color: #fff; border: 0; border-radius: 8px; padding: 9px 14px; font-weight: 600; }
.primary:hover { background: #3049c0; }
.primary:disabled { opacity: .55; cursor: default; }
.link { color: #3b5bdb; font-size: 13px; }
.error { color: #c92a2a; font-size: 13px; margin: 0; }

.scale { display: flex; flex-wrap: wrap; gap: 4px; border: 0; padding: 0; margin: 0; }
.scale legend { font-size: 13px; font-weight: 500; margin-bottom: 4px; padding: 0; }
.scale button { min-width: 34px; height: 34px; border-radius: 8px; border: 1px solid #d0d5dd; background: #fff; font-size: 13px; }
.scale button[aria-pressed="true"] { background: #3b5bdb; border-color: #3b5bdb; color: #fff; }
.scale-ends { display: flex; justify-content: space-between; font-size: 11px; color: #667085; width: 100%; }
.thanks { background: #e6f6ea; border: 1px solid #b2e2bf; color: #1e6a31; border-radius: 12px; padding: 10px 12px; font-size: 13px; }

.composer { border-top: 1px solid #e3e6eb; display: flex; gap: 8px; padding: 10px; background: #fff; align-items: flex-end; }
.composer textarea { flex: 1; resize: none; border: 1px solid #d0d5dd; border-radius: 10px; padding: 9px 11px;
  min-height: 42px; max-height: 120px; background: #fff; }
.composer textarea:focus { border-color: #3b5bdb; outline: 2px solid #e8edff; }
.composer textarea[aria-invalid="true"] { border-color: #e03131; outline-color: #ffe3e3; }
.limit { background: #fff; border-top: 1px solid #e3e6eb; padding: 6px 12px 0; font-size: 12px; display: grid; gap: 2px; }
.limit .counter { color: #667085; text-align: end; }
.limit .counter.over { color: #c92a2a; font-weight: 600; }
.limit .error { font-size: 12px; }
.limit + .composer { border-top: 0; }
.attach { width: 42px; height: 42px; border-radius: 10px; border: 1px solid #d0d5dd; background: #fff; color: #475467; display: grid; place-items: center; }
.attach.hidden, .file-input { display: none; }
.files { list-style: none; margin: 4px 0 0; padding: 0; display: flex; flex-direction: column; gap: 4px; }
.files a { color: inherit; word-break: break-all; }
.files img { display: block; max-width: 200px; max-height: 160px; border-radius: 8px; }
.send { width: 42px; height: 42px; border-radius: 10px; border: 0; background: #3b5bdb; color: #fff; display: grid; place-items: center; }
.send svg { width: 20px; height: 20px; fill: currentColor; }
[dir="rtl"] .send svg { transform: scaleX(-1); }
.send:disabled { opacity: .5; cursor: default; }
.foot { text-align: center; font-size: 11px; color: #98a2b3; padding: 0 0 6px; background: #fff; }

@media (max-width: 480px) {
  .panel { inset: 0; width: 100vw; height: 100%; max-height: none; border-radius: 0; }
  .launcher.panel-open { display: none; }
  .close { width: 44px; height: 44px; }
  .composer textarea { font-size: 16px; }
}
@media (prefers-reduced-motion: reduce) { .launcher { transition: none; } }
`;

  // ------------------------------------------------------------------ small helpers
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = String(value);
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of [].concat(children || [])) if (child) node.append(child);
    return node;
  }

  function svg(pathData) {
    const ns = "http://www.w3.org/2000/svg";
    const root = document.createElementNS(ns, "svg");
    root.setAttribute("viewBox", "0 0 24 24");
    root.setAttribute("aria-hidden", "true");
    root.setAttribute("focusable", "false");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", pathData);
    root.append(path);
    return root;
  }

  const ICON_CHAT = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z";
  const ICON_DOWN = "M6.4 8.6 12 14.2l5.6-5.6L19 10l-7 7-7-7z";
  const ICON_SEND = "M3 20.5 21 12 3 3.5v6.6l12 1.9-12 1.9z";
  const ICON_CLIP = "M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6z";

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  function timeOf(iso) {
    const date = iso ? new Date(iso) : new Date();
    if (Number.isNaN(date.getTime())) return "";
    if (translation) return translation.time(date);
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function loadState() {
    try {
      return JSON.parse(localStorage.getItem(STORE_KEY) || "{}") || {};
    } catch {
      return {};
    }
  }

  function saveState() {
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify(stored));
    } catch {
      /* private mode: the chat still works for this page view */
    }
  }

  // ------------------------------------------------------------------ state
  // stored: {token, contactId, conversationId, read, profileGiven}; the token never goes in a URL.
  // `read` is the last message the visitor has seen: {conversation, seq}. Seqs start again at 1
  // in every conversation, so a seq alone says nothing once a new conversation has begun.
  const stored = loadState();
  if ("readSeq" in stored) {
    // A marker of an older widget: a seq, which belonged to the conversation then stored.
    if (!stored.read && stored.conversationId && stored.readSeq) {
      stored.read = { conversation: stored.conversationId, seq: stored.readSeq };
    }
    delete stored.readSeq;
    saveState();
  }
  const state = {
    open: false,
    session: null, // the session answer (prechat_form, greeting, agents_online… when the server sends them)
    socket: null,
    authed: false,
    attempts: 0,
    reconnectTimer: null,
    lastSeq: 0, // highest seq shown on this page, in the current conversation
    newest: null, // the newest message shown on this page: {conversation, seq}
    maxBody: DEFAULT_MAX_BODY, // characters per message: the server's MESSAGE_BODY_MAX_CHARS
    seen: new Set(), // message seqs rendered (no doubles)
    pending: new Map(), // client_msg_id -> {node, body, conversationId}
    unread: 0,
    agentsOnline: null,
    typingTimer: null,
    typingSent: false,
    theirTypingTimer: null,
    surveys: new Map(),
    conversationStatus: null,
  };

  // ------------------------------------------------------------------ DOM
  const host = document.createElement("cxhub-widget");
  // Host-page rules match the host element itself: pin it with inline !important declarations.
  for (const [prop, value] of [
    ["all", "initial"],
    ["display", "block"],
    ["position", "fixed"],
    ["z-index", "2147483000"],
    ["width", "0"],
    ["height", "0"],
    ["right", "0"],
    ["bottom", "0"],
    ["visibility", "visible"],
    ["opacity", "1"],
    ["transform", "none"],
    ["filter", "none"],
  ]) {
    host.style.setProperty(prop, value, "important");
  }
  const shadow = host.attachShadow({ mode: "open" });
  if ("adoptedStyleSheets" in shadow && typeof CSSStyleSheet === "function" && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    shadow.adoptedStyleSheets = [sheet];
  } else {
    shadow.append(el("style", { text: CSS }));
  }

  const badge = el("span", { class: "badge hidden", "aria-hidden": "true" });
  const launcher = el(
    "button",
    { class: "launcher", type: "button", "aria-expanded": "false", "aria-controls": "cxhub-panel" },
    [svg(ICON_CHAT), badge],
  );
  const title = el("h2", { id: "cxhub-title" });
  const subtitle = el("p");
  const closeButton = el("button", { class: "close", type: "button", text: "×" });
  const statusLine = el("div", { class: "status hidden", role: "status" });
  const body = el("div", { class: "body", role: "log", "aria-live": "polite", tabindex: "0" });
  const typingLine = el("div", { class: "typing", "aria-live": "polite" });
  // No maxlength: it would cut a pasted text without a word. The counter below says how long
  // a message may be as the limit nears, and an over-long one is refused with the reason.
  const input = el("textarea", {
    rows: "1",
    dir: "auto",
    "aria-describedby": "cxhub-counter",
  });
  const counter = el("div", { class: "counter", id: "cxhub-counter" });
  const limitError = el("p", { class: "error hidden", role: "alert" });
  const limitLine = el("div", { class: "limit hidden" }, [counter, limitError]);
  const sendButton = el("button", { class: "send", type: "submit" }, [svg(ICON_SEND)]);
  // Files (docs/attachments.md): checked by the server by their content; a refused one says why.
  const fileInput = el("input", { class: "file-input", type: "file", multiple: true, tabindex: "-1" });
  const attachButton = el("button", { class: "attach hidden", type: "button" }, [svg(ICON_CLIP)]);
  const composer = el("form", { class: "composer" }, [attachButton, fileInput, input, sendButton]);
  const foot = el("div", { class: "foot" });
  const panel = el(
    "div",
    { class: "panel hidden", id: "cxhub-panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "cxhub-title" },
    [
      el("div", { class: "head" }, [el("div", { class: "titles" }, [title, subtitle]), closeButton]),
      statusLine,
      body,
      typingLine,
      limitLine,
      composer,
      foot,
    ],
  );
  const root = el("div", { class: "root" }, [panel, launcher]);
  shadow.append(root);

  // The texts of the widget's frame, in the current language (again when it changes).
  function localise() {
    const language = translation ? translation.language : "en";
    root.setAttribute("lang", language);
    root.setAttribute("dir", translation ? translation.direction : "ltr");
    launcher.setAttribute("aria-label", state.open ? pgettext("widget", "Close chat") : labelForLauncher());
    if (!inboxInfo().name) title.textContent = pgettext("widget", "Chat with us");
    subtitle.textContent =
      state.agentsOnline === false
        ? pgettext("widget", "We are away right now.")
        : pgettext("widget", "We usually reply in a few minutes.");
    closeButton.setAttribute("aria-label", pgettext("widget", "Close chat"));
    body.setAttribute("aria-label", pgettext("widget", "Messages"));
    input.setAttribute("placeholder", pgettext("widget", "Write a message…"));
    input.setAttribute("aria-label", pgettext("widget", "Your message"));
    sendButton.setAttribute("aria-label", pgettext("widget", "Send message"));
    attachButton.setAttribute("aria-label", pgettext("widget", "Send a file"));
    attachButton.setAttribute("title", pgettext("widget", "Send a file"));
    composer.setAttribute("aria-label", pgettext("widget", "Write a message"));
    foot.textContent = pgettext("widget", "Powered by cxhub");
    updateCounter();
  }
  localise();

  function mount() {
    document.body.append(host);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount, { once: true });

  // ------------------------------------------------------------------ open / close
  function openPanel() {
    if (state.open) return;
    state.open = true;
    panel.classList.remove("hidden");
    launcher.classList.add("panel-open");
    launcher.setAttribute("aria-expanded", "true");
    launcher.setAttribute("aria-label", pgettext("widget", "Close chat"));
    launcher.querySelector("path").setAttribute("d", ICON_DOWN);
    start();
    markRead();
    const target = body.querySelector(".prechat input") || (composer.classList.contains("hidden") ? closeButton : input);
    requestAnimationFrame(() => target.focus());
    scrollDown();
  }

  function closePanel() {
    if (!state.open) return;
    state.open = false;
    panel.classList.add("hidden");
    launcher.classList.remove("panel-open");
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-label", labelForLauncher());
    launcher.querySelector("path").setAttribute("d", ICON_CHAT);
    sendTyping(false);
    launcher.focus();
  }

  launcher.addEventListener("click", () => (state.open ? closePanel() : openPanel()));
  closeButton.addEventListener("click", closePanel);
  root.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.open) {
      event.preventDefault();
      closePanel();
    }
  });

  function labelForLauncher() {
    if (!state.unread) return pgettext("widget", "Open chat");
    const text = npgettext("widget", "Open chat, %(count)s unread message", "Open chat, %(count)s unread messages", state.unread);
    return interpolate(text, { count: formatNumber(state.unread) });
  }

  function setUnread(count) {
    state.unread = count;
    badge.textContent = count > 9 ? "9+" : String(count);
    badge.classList.toggle("hidden", count === 0);
    if (!state.open) launcher.setAttribute("aria-label", labelForLauncher());
  }

  // Messages are ordered by (conversation id, seq): ids only grow, and seqs restart in each one.
  function isAfter(position, marker) {
    if (!marker) return true;
    if (position.conversation !== marker.conversation) return position.conversation > marker.conversation;
    return position.seq > marker.seq;
  }

  function markRead() {
    setUnread(0);
    if (state.newest && isAfter(state.newest, stored.read)) {
      stored.read = { ...state.newest };
      saveState();
    }
    if (state.authed && state.newest) {
      send({ type: "read", conversation_id: state.newest.conversation, seq: state.newest.seq });
    }
  }

  function shown(message) {
    const position = { conversation: message.conversation_id, seq: message.seq };
    if (!state.newest || isAfter(position, state.newest)) state.newest = position;
    return position;
  }

  function scrollDown() {
    body.scrollTop = body.scrollHeight;
  }

  function showStatus(text) {
    statusLine.textContent = text || "";
    statusLine.classList.toggle("hidden", !text);
  }

  // ------------------------------------------------------------------ session (REST)
  async function postSession(payload) {
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    const request = { ...IDENTITY, ...LOCALE, ...(payload || {}) };
    if (stored.token) request.visitor_token = stored.token; // in the body, never in the URL
    const response = await fetch(`${ORIGIN}/api/v1/widget/${encodeURIComponent(INBOX)}/session`, {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      headers,
      body: JSON.stringify(request),
    });
    let answer = null;
    try {
      answer = await response.json();
    } catch {
      answer = null;
    }
    if (!response.ok) {
      const error = new Error(
        answer?.error?.detail || interpolate(pgettext("widget", "The chat is unavailable (%(status)s)."), { status: response.status }),
      );
      error.fields = answer?.error?.fields || {};
      throw error;
    }
    return answer;
  }

  function adoptSession(answer) {
    state.session = { ...(state.session || {}), ...answer };
    if (answer.contact_id && stored.contactId && answer.contact_id !== stored.contactId) {
      // Another person now (the website's user signed out or in): forget the previous one's chat.
      for (const key of ["conversationId", "read", "profileGiven", "offlineEmailGiven"]) delete stored[key];
    }
    if (answer.visitor_token) stored.token = answer.visitor_token;
    if (answer.contact_id) stored.contactId = answer.contact_id;
    if (answer.conversation_id) stored.conversationId = answer.conversation_id;
    saveState();
    applyInboxInfo(answer);
  }

  function applyInboxInfo(info) {
    const inbox = info.inbox || info;
    if (inbox.name) title.textContent = inbox.name;
    if (inbox.attachments) {
      state.files = inbox.attachments;
      const kinds = inbox.attachments.kinds || [];
      attachButton.classList.toggle("hidden", !kinds.length);
      fileInput.setAttribute("accept", (inbox.attachments.extensions || []).map((ext) => `.${ext}`).join(","));
    }
    if (Number.isInteger(inbox.message_max_chars) && inbox.message_max_chars > 0) {
      state.maxBody = inbox.message_max_chars;
      updateCounter();
    }
    const online = typeof inbox.agents_online === "boolean" ? inbox.agents_online : info.agents_online;
    if (typeof online === "boolean") setAgentsOnline(online);
  }

  function inboxInfo() {
    return (state.session && (state.session.inbox || state.session)) || {};
  }

  let starting = null;
  function start() {
    if (!starting) {
      starting = (async () => {
        try {
          // A returning visitor sends their token back and keeps their contact and history.
          const [session] = await Promise.all([postSession({}), linkifyReady, firstLanguage]);
          await useLanguage(session.language);
          adoptSession(session);
          renderGreeting();
          if (needsPrechat()) showPrechat();
          connect();
        } catch (error) {
          showStatus(error.message || pgettext("widget", "The chat is unavailable right now."));
          starting = null;
        }
      })();
    }
    return starting;
  }

  function needsPrechat() {
    return Boolean(inboxInfo().prechat_form && !stored.profileGiven && !stored.conversationId && !IDENTITY.identity_hash);
  }

  function renderGreeting() {
    if (body.querySelector(".greeting")) return;
    const text = inboxInfo().greeting || pgettext("widget", "Hi! How can we help?");
    const node = messageNode({ mine: false, name: title.textContent, body: text, time: "" });
    node.classList.add("greeting");
    body.prepend(node);
    const closed = inboxInfo().closed_notice; // outside business hours: when the team is back (docs/sla.md)
    if (closed) node.after(el("p", { class: "closed-notice", role: "status", text: closed }));
  }

  // ------------------------------------------------------------------ pre-chat form and offline email
  function profileForm({ className, heading, intro, withName, submitLabel, onDone }) {
    const error = el("p", { class: "error hidden", role: "alert" });
    const nameInput = withName ? el("input", { type: "text", name: "name", autocomplete: "name", maxlength: "200" }) : null;
    const emailInput = el("input", { type: "email", name: "email", autocomplete: "email", maxlength: "254", required: !withName });
    const submit = el("button", { class: "primary", type: "submit", text: submitLabel });
    const form = el("form", { class: `card ${className}`, "aria-label": heading, novalidate: true }, [
      el("h3", { text: heading }),
      el("p", { text: intro }),
      nameInput ? el("label", {}, [document.createTextNode(pgettext("widget", "Name")), nameInput]) : null,
      el("label", {}, [document.createTextNode(pgettext("widget", "Email")), emailInput]),
      error,
      submit,
    ]);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const payload = {};
      if (nameInput && nameInput.value.trim()) payload.name = nameInput.value.trim();
      if (emailInput.value.trim()) payload.email = emailInput.value.trim();
      if (!emailInput.checkValidity()) {
        emailInput.setAttribute("aria-invalid", "true");
        error.textContent = pgettext("widget", "Please enter a valid email address.");
        error.classList.remove("hidden");
        emailInput.focus();
        return;
      }
      submit.disabled = true;
      try {
        const answer = await postSession(payload);
        const tokenChanged = answer.visitor_token && answer.visitor_token !== stored.token;
        adoptSession(answer);
        stored.profileGiven = true;
        saveState();
        if (tokenChanged) reconnectNow();
        onDone(form, payload);
      } catch (failure) {
        const fields = failure.fields || {};
        error.textContent = (fields.email && fields.email[0]) || (fields.name && fields.name[0]) || failure.message;
        error.classList.remove("hidden");
        submit.disabled = false;
      }
    });
    return form;
  }

  function showPrechat() {
    if (body.querySelector(".prechat")) return;
    const offline = body.querySelector(".offline");
    if (offline) offline.remove();
    composer.classList.add("hidden");
    const form = profileForm({
      className: "prechat",
      heading: pgettext("widget", "Before we start"),
      intro: pgettext("widget", "Tell us who you are so we can follow up if the chat gets cut off."),
      withName: true,
      submitLabel: pgettext("widget", "Start chat"),
      onDone(node, payload) {
        if (payload.email) stored.offlineEmailGiven = true; // the offline notice need not ask again
        saveState();
        node.remove();
        composer.classList.remove("hidden");
        input.focus();
      },
    });
    body.append(form);
    if (state.open) requestAnimationFrame(() => form.querySelector("input").focus());
  }

  function setAgentsOnline(online) {
    state.agentsOnline = online;
    subtitle.textContent = online
      ? pgettext("widget", "We usually reply in a few minutes.")
      : pgettext("widget", "We are away right now.");
    const existing = body.querySelector(".offline");
    if (online) {
      if (existing) existing.remove();
      return;
    }
    if (existing || stored.offlineEmailGiven || body.querySelector(".prechat")) return;
    const form = profileForm({
      className: "offline",
      heading: pgettext("widget", "No one is online right now"),
      intro: pgettext("widget", "Leave your email and your question: we will answer by email as soon as we are back."),
      withName: false,
      submitLabel: pgettext("widget", "Email me the answer"),
      onDone(node, payload) {
        stored.offlineEmailGiven = true;
        saveState();
        const thanks = interpolate(pgettext("widget", "Thanks! We will reply to %(email)s."), { email: payload.email });
        node.replaceWith(el("div", { class: "thanks", role: "status", text: thanks }));
      },
    });
    body.append(form);
  }

  // ------------------------------------------------------------------ websocket
  function wsUrl() {
    const url = new URL(ORIGIN);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.pathname = "/ws/widget/";
    url.search = `?inbox=${encodeURIComponent(INBOX)}`;
    return url.toString();
  }

  function connect() {
    if (state.socket || !stored.token) return;
    clearTimeout(state.reconnectTimer);
    let socket;
    try {
      socket = new WebSocket(wsUrl());
    } catch {
      scheduleReconnect();
      return;
    }
    state.socket = socket;
    state.authed = false;
    socket.addEventListener("open", () => {
      // Resume inside the auth frame: missed messages come strictly in order, before any live one.
      // Without a known conversation, after_seq 0 resumes the open one (if any).
      const auth = { type: "auth", token: stored.token, after_seq: stored.conversationId ? state.lastSeq : 0 };
      if (stored.conversationId) auth.conversation_id = stored.conversationId;
      state.resumedInAuth = stored.conversationId || "open";
      socket.send(JSON.stringify(auth));
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (state.attempts) {
        state.attempts = 0;
        showStatus("");
      }
      handleFrame(frame);
    });
    socket.addEventListener("close", (event) => {
      if (state.socket === socket) state.socket = null;
      state.authed = false;
      if (event.code === 4401 || event.code === 4403) {
        // The token is unknown, revoked or for another inbox: start a fresh session.
        delete stored.token;
        delete stored.conversationId;
        saveState();
        starting = null;
        if (state.attempts < 3) {
          state.attempts += 1;
          start();
        } else {
          showStatus(pgettext("widget", "The chat is unavailable right now."));
        }
        return;
      }
      scheduleReconnect();
    });
    socket.addEventListener("error", () => {
      /* close follows */
    });
  }

  function scheduleReconnect() {
    clearTimeout(state.reconnectTimer);
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** state.attempts);
    const jittered = delay / 2 + Math.random() * (delay / 2);
    state.attempts += 1;
    showStatus(pgettext("widget", "Reconnecting…"));
    state.reconnectTimer = setTimeout(connect, jittered);
  }

  function reconnectNow() {
    if (state.socket) {
      const old = state.socket;
      state.socket = null;
      old.close(1000);
    }
    state.attempts = 0;
    connect();
  }

  function send(frame) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN && state.authed) {
      state.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  window.addEventListener("online", () => {
    if (!state.socket && stored.token) {
      state.attempts = 0;
      connect();
    }
  });

  // ------------------------------------------------------------------ frames
  function handleFrame(frame) {
    switch (frame.type) {
      case "message":
        if (frame.message) receiveMessage(frame.message);
        break;
      case "ack":
        acknowledge(frame);
        break;
      case "typing":
        showTheirTyping(frame);
        break;
      case "presence":
        presence(frame);
        break;
      case "survey.request":
        showSurvey(frame);
        break;
      case "survey.answered":
        surveyAnswered(frame.invitation);
        break;
      case "conversation.updated":
      case "conversation.status":
        conversationUpdated(frame.conversation || frame);
        break;
      case "auth.ok":
        authenticated(frame);
        break;
      case "resume.done":
        if (frame.last_seq > state.lastSeq && frame.conversation_id === stored.conversationId) state.lastSeq = frame.last_seq;
        break;
      case "error":
        showError(frame);
        break;
      default:
        break;
    }
  }

  function authenticated(frame) {
    state.authed = true;
    state.attempts = 0;
    showStatus("");
    if (frame.conversation_id) stored.conversationId = frame.conversation_id;
    saveState();
    if (typeof frame.agents_online === "boolean") setAgentsOnline(frame.agents_online);
    // Live frames follow for seq > last_seq; what this page has not shown yet comes by resume.
    const resumed = state.resumedInAuth === "open" || state.resumedInAuth === frame.conversation_id;
    if (frame.conversation_id && !resumed && (frame.last_seq || 0) > 0) {
      send({ type: "resume", conversation_id: frame.conversation_id, after_seq: 0 });
    }
    resendPending();
    if (state.open) markRead();
  }

  function presence(frame) {
    const value = [frame.agents_online, frame.online, frame.available].find((v) => typeof v === "boolean");
    if (typeof value === "boolean") setAgentsOnline(value);
    else if (typeof frame.agents === "number") setAgentsOnline(frame.agents > 0);
  }

  function showError(frame) {
    if (frame.code === "not_found" && (frame.frame_type === "auth" || frame.frame_type === "resume")) {
      // A conversation this visitor no longer sees (another contact, a revoked token): forget it.
      delete stored.conversationId;
      saveState();
      return;
    }
    if (frame.frame_type === "survey.answer" && state.surveySending) {
      // The answer was refused (expired, closed, a bad score): say why on the card, let them retry.
      const card = state.surveys.get(state.surveySending);
      state.surveySending = null;
      if (card && card.matches("form.survey")) {
        const submit = card.querySelector("button[type=submit]");
        submit.disabled = false;
        submit.textContent = pgettext("widget", "Send my answer");
        const error = card.querySelector(".error");
        error.textContent = frame.detail || pgettext("widget", "Your answer was not saved.");
        error.classList.remove("hidden");
        return;
      }
    }
    if (frame.retryable) {
      retryLater(frame);
      return;
    }
    if (frame.client_msg_id && state.pending.has(frame.client_msg_id)) {
      const entry = state.pending.get(frame.client_msg_id);
      state.pending.delete(frame.client_msg_id);
      entry.node.classList.remove("pending");
      entry.node.classList.add("failed");
      entry.node.querySelector(".meta-status").textContent =
        frame.code === "body_too_long" ? pgettext("widget", "Not sent: too long") : pgettext("widget", "Not sent");
      if (frame.code === "body_too_long") {
        // The server's limit is the rule: give the text back to shorten it, and say why.
        if (!input.value.trim()) input.value = entry.body;
        autoGrow();
        updateCounter();
        showLimitError(frame.detail || pgettext("widget", "This message is too long to send."));
        return;
      }
    }
    const text =
      frame.code === "rate_limited"
        ? pgettext("widget", "You are sending messages too fast; please wait a moment.")
        : frame.detail || pgettext("widget", "Something went wrong.");
    showStatus(text);
    setTimeout(() => {
      if (statusLine.textContent === text) showStatus("");
    }, 5000);
  }

  // `unavailable` (retryable: the server's database is briefly down) means nothing was stored. The
  // message stays pending and goes again with the same client_msg_id after retry_after seconds,
  // doubling up to 30 s; a reconnect sends every pending one too. A refused resume reconnects.
  function retryLater(frame) {
    showStatus(pgettext("widget", "Sending again in a moment…"));
    const entry = frame.client_msg_id ? state.pending.get(frame.client_msg_id) : null;
    const tries = entry ? (entry.retries = (entry.retries || 0) + 1) : 1;
    const delay = Math.min(BACKOFF_MAX_MS, (frame.retry_after || 2) * 1000 * 2 ** (tries - 1));
    const jittered = delay / 2 + Math.random() * (delay / 2);
    if (entry) {
      clearTimeout(entry.retryTimer);
      entry.retryTimer = setTimeout(() => {
        if (state.pending.get(frame.client_msg_id) === entry) {
          send({ type: "message.send", client_msg_id: frame.client_msg_id, body: entry.body });
        }
      }, jittered);
    } else if (frame.frame_type === "resume") {
      setTimeout(reconnectNow, jittered);
    }
  }

  function conversationUpdated(conversation) {
    if (!conversation) return;
    if (conversation.id && conversation.status !== "resolved") stored.conversationId = conversation.id;
    state.conversationStatus = conversation.status || state.conversationStatus;
    saveState();
    const closedNote = body.querySelector(`.closed-note[data-conversation="${conversation.id}"]`);
    if (conversation.status === "resolved" && !closedNote) {
      const text = pgettext("widget", "This conversation was closed. Write again any time.");
      const note = messageNode({ mine: false, body: text, kind: "system" });
      note.classList.add("closed-note");
      note.dataset.conversation = String(conversation.id);
      body.append(note);
      scrollDown();
    } else if (conversation.status !== "resolved" && closedNote) {
      closedNote.remove();
    }
  }

  // ------------------------------------------------------------------ links in messages
  function appendLinkified(parent, text) {
    const source = String(text ?? "");
    parent.append(linkify ? linkify(source) : document.createTextNode(source));
    return parent;
  }

  // Attachments: names as text, previews as images from signed links, each a download link.
  function filesNode(files) {
    const listed = (files || []).filter((file) => file && (file.url || file.rejected || file.pending));
    if (!listed.length) return null;
    return el(
      "ul",
      { class: "files" },
      listed.map((file) => {
        const name = file.name || pgettext("widget", "file");
        if (!file.url) {
          const why = file.pending ? pgettext("widget", "arriving…") : pgettext("widget", "not kept");
          return el("li", { text: `${name} (${why})` });
        }
        // The links are the chat server's (relative): on the shop's page they need its origin.
        const served = (url) => (url.startsWith("/") ? `${ORIGIN}${url}` : url);
        const link = el("a", { href: served(file.url), download: name, target: "_blank", rel: "noopener noreferrer", title: name });
        if (file.preview_url) link.append(el("img", { src: served(file.preview_url), alt: name }));
        else link.append(document.createTextNode(name));
        return el("li", {}, [link]);
      }),
    );
  }

  function messageNode({ mine, name, body: text, time, kind, files }) {
    const status = el("span", { class: "meta-status" });
    const meta = el("div", { class: "meta" }, [
      el("span", { class: "sender", text: mine ? pgettext("widget", "You") : name || pgettext("widget", "Support") }),
      el("span", { text: time ? "·" : "", "aria-hidden": "true" }),
      el("time", { text: time }),
      status,
    ]);
    const classes = ["msg", kind === "system" ? "system" : mine ? "mine" : "theirs"];
    const bubble = appendLinkified(el("div", { class: "bubble", dir: "auto" }), text);
    if (!text) bubble.classList.add("hidden");
    return el("div", { class: classes.join(" ") }, [meta, bubble, filesNode(files)]);
  }

  function receiveMessage(message) {
    if (message.is_note) return; // never shown to customers (the server never sends them either)
    if (message.conversation_id && message.conversation_id !== stored.conversationId) {
      // A new conversation (after a resolution) starts its own seq numbering.
      stored.conversationId = message.conversation_id;
      state.lastSeq = 0;
      saveState();
    }
    const key = `${message.conversation_id || ""}:${message.seq}`;
    if (state.seen.has(key)) return;
    state.seen.add(key);
    if (message.seq > state.lastSeq) state.lastSeq = message.seq;
    const position = shown(message);

    const mine = message.sender && message.sender.kind === "contact";
    if (mine && message.client_msg_id && state.pending.has(message.client_msg_id)) {
      settlePending(message.client_msg_id, message);
      return;
    }
    const node = messageNode({
      mine,
      name: message.sender && message.sender.name,
      body: message.body,
      time: timeOf(message.created_at),
      kind: message.sender && message.sender.kind === "system" ? "system" : undefined,
      files: message.attachments,
    });
    node.dataset.seq = String(message.seq);
    node.dataset.conversation = String(message.conversation_id || "");
    insertInOrder(node, message);
    if (!mine) {
      hideTheirTyping();
      if (!state.open && isAfter(position, stored.read)) setUnread(state.unread + 1);
      else if (state.open) markRead();
    }
    scrollDown();
  }

  function insertInOrder(node, message) {
    const later = Array.from(body.querySelectorAll(".msg[data-seq]")).find(
      (other) => other.dataset.conversation === String(message.conversation_id || "") && Number(other.dataset.seq) > message.seq,
    );
    if (later) body.insertBefore(node, later);
    else {
      const tail = body.querySelector(".offline, .prechat");
      if (tail) body.insertBefore(node, tail);
      else body.append(node);
    }
  }

  function settlePending(clientMsgId, message) {
    const entry = state.pending.get(clientMsgId);
    state.pending.delete(clientMsgId);
    if (entry.retries) showStatus("");
    entry.node.classList.remove("pending", "failed");
    entry.node.querySelector(".meta-status").textContent = "";
    entry.node.querySelector("time").textContent = timeOf(message.created_at);
    entry.node.dataset.seq = String(message.seq);
    entry.node.dataset.conversation = String(message.conversation_id || "");
    const key = `${message.conversation_id || ""}:${message.seq}`;
    state.seen.add(key);
    if (message.seq > state.lastSeq) state.lastSeq = message.seq;
    shown(message);
  }

  function acknowledge(frame) {
    const message = frame.message;
    if (!message) return;
    if (message.conversation_id && message.conversation_id !== stored.conversationId) {
      stored.conversationId = message.conversation_id;
      saveState();
    }
    if (state.pending.has(frame.client_msg_id)) settlePending(frame.client_msg_id, message);
    else receiveMessage(message);
  }

  function resendPending() {
    for (const [clientMsgId, entry] of state.pending) {
      send({ type: "message.send", client_msg_id: clientMsgId, body: entry.body });
    }
  }

  // ------------------------------------------------------------------ composing
  // Characters as the server counts them (code points, not UTF-16 units), of what would be sent.
  function bodyLength(text) {
    return Array.from(text).length;
  }

  function updateCounter() {
    const count = bodyLength(input.value.trim());
    const limit = state.maxBody;
    const over = count > limit;
    const near = count >= Math.ceil(limit * COUNTER_FROM);
    const figures = { count: formatNumber(count), limit: formatNumber(limit), over: formatNumber(count - limit) };
    counter.textContent = over
      ? interpolate(
          npgettext("widget", "%(count)s / %(limit)s characters: %(over)s too many", "%(count)s / %(limit)s characters: %(over)s too many", count - limit),
          figures,
        )
      : interpolate(pgettext("widget", "%(count)s / %(limit)s characters"), figures);
    counter.classList.toggle("over", over);
    input.setAttribute("aria-invalid", over ? "true" : "false");
    if (!over) limitError.classList.add("hidden");
    limitLine.classList.toggle("hidden", !near && limitError.classList.contains("hidden"));
  }

  function showLimitError(text) {
    limitError.textContent = text;
    limitError.classList.remove("hidden");
    limitLine.classList.remove("hidden");
  }

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    const count = bodyLength(text);
    if (count > state.maxBody) {
      // Refused here, with the reason; the text stays in the box to be shortened.
      showLimitError(
        interpolate(
          pgettext(
            "widget",
            "This message is too long to send: at most %(limit)s characters (%(over)s too many). Shorten it or send it in parts.",
          ),
          { limit: formatNumber(state.maxBody), over: formatNumber(count - state.maxBody) },
        ),
      );
      input.focus();
      return;
    }
    const clientMsgId = uuid();
    const node = messageNode({ mine: true, body: text, time: timeOf() });
    node.classList.add("pending");
    node.querySelector(".meta-status").textContent = pgettext("widget", "Sending…");
    body.append(node);
    state.pending.set(clientMsgId, { node, body: text });
    input.value = "";
    autoGrow();
    updateCounter();
    sendTyping(false);
    scrollDown();
    if (!send({ type: "message.send", client_msg_id: clientMsgId, body: text })) {
      // Not connected: it goes out (once, by client_msg_id) as soon as the socket is back.
      start().then(() => connect());
    }
  });

  attachButton.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => {
    const files = Array.from(fileInput.files || []);
    fileInput.value = "";
    if (files.length) uploadFiles(files);
  });

  async function uploadFiles(files) {
    const form = new FormData();
    form.append("visitor_token", stored.token || "");
    form.append("client_msg_id", uuid());
    for (const file of files) form.append("files", file, file.name);
    showStatus(pgettext("widget", "Sending…"));
    let response = null;
    let answer = null;
    try {
      response = await fetch(`${ORIGIN}/api/v1/widget/${encodeURIComponent(INBOX)}/attachments`, {
        method: "POST",
        mode: "cors",
        credentials: "omit",
        headers: { Accept: "application/json" },
        body: form,
      });
      answer = await response.json();
    } catch {
      answer = null;
    }
    showStatus("");
    if (!response || !response.ok) {
      showLimitError(answer?.error?.detail || pgettext("widget", "The file could not be sent. Please try again."));
      return;
    }
    limitError.classList.add("hidden");
    updateCounter();
    receiveMessage(answer);
  }

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });

  function autoGrow() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight + 2, 120)}px`;
  }

  input.addEventListener("input", () => {
    autoGrow();
    updateCounter();
    if (input.value.trim()) {
      if (!state.typingSent) sendTyping(true);
      clearTimeout(state.typingTimer);
      state.typingTimer = setTimeout(() => sendTyping(false), TYPING_IDLE_MS);
    } else {
      sendTyping(false);
    }
  });

  function sendTyping(on) {
    clearTimeout(state.typingTimer);
    if (state.typingSent === on) return;
    state.typingSent = on;
    send({ type: "typing", on });
  }

  function showTheirTyping(frame) {
    if (frame.sender && frame.sender.kind === "contact") return;
    if (frame.on === false) {
      hideTheirTyping();
      return;
    }
    const name = (frame.sender && frame.sender.name) || frame.name || pgettext("widget", "An agent");
    typingLine.textContent = interpolate(pgettext("widget", "%(name)s is typing…"), { name });
    clearTimeout(state.theirTypingTimer);
    state.theirTypingTimer = setTimeout(hideTheirTyping, 6000);
  }

  function hideTheirTyping() {
    clearTimeout(state.theirTypingTimer);
    typingLine.textContent = "";
  }

  // ------------------------------------------------------------------ surveys
  // The card shows exactly the wording the server sends (feedback/questions.py): the title,
  // each question's text and its scale's end labels. It has none of its own.
  // A question: {"key", "text", "min", "max", "low_label", "high_label"} (min/max null: free text).
  function surveyQuestions(questions) {
    const found = [];
    for (const question of Array.isArray(questions) ? questions : []) {
      if (!question || typeof question.key !== "string" || typeof question.text !== "string") continue;
      if (found.some((q) => q.key === question.key)) continue;
      const scored = Number.isInteger(question.min) && Number.isInteger(question.max);
      if (scored && (question.max < question.min || question.max - question.min > 10)) continue;
      found.push({ ...question, scored });
    }
    return found;
  }

  function surveyUrl(token) {
    return `${ORIGIN}/s/${encodeURIComponent(token)}/`;
  }

  function scoreLabel(value, question) {
    const end = value === question.min ? question.low_label : value === question.max ? question.high_label : "";
    const figures = { value: formatNumber(value), max: formatNumber(question.max), label: end };
    return interpolate(
      end ? pgettext("widget", "%(value)s of %(max)s, %(label)s") : pgettext("widget", "%(value)s of %(max)s"),
      figures,
    );
  }

  function showSurvey(frame) {
    const token = frame.invitation;
    if (!token || typeof token !== "string" || state.surveys.has(token)) return;
    const questions = surveyQuestions(frame.questions);
    const answers = {};
    const titleText = typeof frame.title === "string" ? frame.title : "";
    const card = el("form", { class: "card survey", "aria-label": titleText || null });
    if (titleText) card.append(el("h3", { text: titleText }));
    const submit = el("button", { class: "primary", type: "submit", text: pgettext("widget", "Send my answer"), disabled: true });
    let comment = null;
    for (const question of questions) {
      const kind = question.key;
      if (!question.scored) {
        comment = el("textarea", { maxlength: "2000", name: kind, dir: "auto" });
        comment.addEventListener("input", () => {
          submit.disabled = !comment.value.trim() && !Object.keys(answers).length;
        });
        card.append(el("label", {}, [document.createTextNode(question.text), comment]));
        continue;
      }
      const legendId = `cxhub-${kind}-${state.surveys.size}`;
      const group = el("fieldset", { class: "scale", role: "group", "aria-labelledby": legendId });
      group.dataset.question = kind;
      group.append(el("legend", { id: legendId, text: question.text }));
      for (let value = question.min; value <= question.max; value += 1) {
        const button = el("button", {
          type: "button",
          text: String(value),
          "aria-pressed": "false",
          "aria-label": scoreLabel(value, question),
        });
        button.dataset.value = String(value);
        button.addEventListener("click", () => {
          answers[kind] = value;
          for (const other of group.querySelectorAll("button")) {
            other.setAttribute("aria-pressed", other === button ? "true" : "false");
          }
          submit.disabled = false;
        });
        group.append(button);
      }
      if (question.low_label || question.high_label) {
        group.append(
          el("div", { class: "scale-ends", "aria-hidden": "true" }, [
            el("span", { class: "low", text: question.low_label || "" }),
            el("span", { class: "high", text: question.high_label || "" }),
          ]),
        );
      }
      card.append(group);
    }
    const error = el("p", { class: "error hidden", role: "alert" });
    const href = typeof frame.url === "string" && /^https?:\/\//.test(frame.url) ? frame.url : surveyUrl(token);
    const link = el("a", {
      class: "link",
      href,
      target: "_blank",
      rel: "noopener",
      text: pgettext("widget", "Answer later on the survey page"),
    });
    if (questions.length) card.append(error, submit);
    card.append(link);
    card.addEventListener("submit", (event) => {
      event.preventDefault();
      const frameOut = { type: "survey.answer", invitation: token, ...answers };
      if (comment && comment.value.trim()) frameOut.comment = comment.value.trim();
      if (Object.keys(frameOut).length <= 2) return;
      if (!send(frameOut)) {
        error.textContent = pgettext(
          "widget",
          "You are offline; your answer was not sent. Try again in a moment or use the survey page.",
        );
        error.classList.remove("hidden");
        return;
      }
      submit.disabled = true;
      submit.textContent = pgettext("widget", "Sending…");
      state.surveySending = token;
    });
    state.surveys.set(token, card);
    body.append(card);
    scrollDown();
    if (!state.open) setUnread(state.unread + 1);
  }

  function surveyAnswered(token) {
    if (state.surveySending === token) state.surveySending = null;
    const card = state.surveys.get(token);
    const thanks = el("div", { class: "thanks", role: "status" }, [
      document.createTextNode(`${pgettext("widget", "Thank you for your feedback!")} `),
      el("a", {
        class: "link",
        href: surveyUrl(token || ""),
        target: "_blank",
        rel: "noopener",
        text: pgettext("widget", "Change your answer"),
      }),
    ]);
    if (card) {
      const hadFocus = card.contains(shadow.activeElement);
      card.replaceWith(thanks);
      if (hadFocus) input.focus();
    } else if (token) {
      body.append(thanks);
    }
    if (token) state.surveys.set(token, thanks);
    scrollDown();
  }

  // ------------------------------------------------------------------ boot
  // A returning visitor reconnects at once (to get the unread badge); a new one on first open.
  if (stored.token) {
    start();
  }
})();
