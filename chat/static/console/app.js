// The agent console: the live conversation list, one cross-channel timeline, the contact panel,
// the reply box (channels, notes, /shortcuts), conversation actions and the supervisor's queue.
import { askNotificationPermission, beep, notificationsAvailable, notify } from "./alerts.js";
import { api, apiAll } from "./api.js";
import {
  channelBadge,
  clear,
  contactLabel,
  dateTime,
  el,
  relative,
  statusBadge,
  toast,
  uuid,
} from "./dom.js";
import { applyFilterUi } from "./filters.js";
import { LiveSocket } from "./live.js";

const root = document.getElementById("console");
const ME = Number(root.dataset.userId);
const IS_SUPERVISOR = root.dataset.supervisor === "true";
const FILTER_KEYS = ["status", "inbox", "channel", "assignee", "team"];
const FILTER_STORE = "cxhub.console.filters";
const PRIORITY_RANK = { low: 0, normal: 1, high: 2, urgent: 3 };

const $ = (id) => document.getElementById(id);
const list = $("conv-list");
const timeline = $("timeline");
const contactPane = $("contact");
const replyBox = $("reply");
const replyChannel = $("reply-channel");
const noteToggle = $("note-toggle");
const composer = $("composer");
const cannedList = $("canned");

const state = {
  conversations: new Map(), // id -> conversation (list rows)
  order: [],
  unread: new Set(),
  current: null, // the open conversation
  contact: null,
  lastSeq: 0,
  seen: new Set(),
  canned: null,
  cannedIndex: 0,
  typingTimer: null,
};

// ------------------------------------------------------------------ filters
function readFilters() {
  const filters = {};
  for (const key of FILTER_KEYS) {
    filters[key] = Array.from(document.querySelectorAll(`#filters input[name="${key}"]:checked`), (i) => i.value);
  }
  const q = $("search").value.trim();
  if (q) filters.q = q;
  return filters;
}

function restoreFilters() {
  let saved = null;
  try {
    saved = JSON.parse(localStorage.getItem(FILTER_STORE) || "null");
  } catch {
    saved = null;
  }
  saved = saved || { status: ["open", "pending"] };
  for (const key of FILTER_KEYS) {
    for (const input of document.querySelectorAll(`#filters input[name="${key}"]`)) {
      input.checked = (saved[key] || []).includes(input.value);
    }
  }
  applyFilterUi();
}

function onFiltersChanged() {
  const filters = readFilters();
  const saved = {};
  for (const key of FILTER_KEYS) saved[key] = filters[key];
  localStorage.setItem(FILTER_STORE, JSON.stringify(saved));
  applyFilterUi();
  loadList();
}

$("filters").addEventListener("change", onFiltersChanged);
$("clear-filters").addEventListener("click", () => {
  for (const input of document.querySelectorAll("#filters input")) input.checked = false;
  onFiltersChanged();
});
let searchTimer = null;
$("search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(loadList, 250);
});

// ------------------------------------------------------------------ the list
let listRequest = 0;
async function loadList() {
  const mine = ++listRequest;
  list.setAttribute("aria-busy", "true");
  try {
    const rows = await apiAll("/api/v1/conversations/", readFilters(), 4);
    if (mine !== listRequest) return;
    state.conversations = new Map(rows.map((row) => [row.id, row]));
    state.order = rows.map((row) => row.id);
    renderList();
  } catch (error) {
    toast(`Could not load conversations: ${error.message}`, { error: true });
  } finally {
    if (mine === listRequest) list.setAttribute("aria-busy", "false");
  }
}

let listReloadTimer = null;
function reloadListSoon() {
  clearTimeout(listReloadTimer);
  listReloadTimer = setTimeout(() => {
    loadList();
    if (IS_SUPERVISOR) loadSupervisor();
  }, 300);
}

function renderList() {
  clear(list);
  if (!state.order.length) {
    list.append(el("li", { class: "empty", text: "No conversations match these filters." }));
    return;
  }
  for (const id of state.order) list.append(listItem(state.conversations.get(id)));
}

function listItem(conversation) {
  const current = state.current && state.current.id === conversation.id;
  const assignee = conversation.assignee ? conversation.assignee.name : "Unassigned";
  const button = el(
    "button",
    {
      type: "button",
      class: `conv-item${state.unread.has(conversation.id) ? " unread" : ""}`,
      "aria-current": current ? "true" : "false",
      dataset: { id: String(conversation.id) },
      onclick: () => openConversation(conversation.id),
    },
    [
      el("span", { class: "who", text: contactLabel(conversation.contact) }),
      el("span", { class: "when", text: relative(conversation.last_activity_at), title: conversation.last_activity_at }),
      el("span", { class: "meta" }, [
        channelBadge(conversation.last_customer_channel || conversation.inbox?.channel),
        statusBadge(conversation.status),
        PRIORITY_RANK[conversation.priority] >= 2 ? el("span", { class: `badge badge-${conversation.priority}`, text: conversation.priority }) : null,
        conversation.contact?.at_risk ? el("span", { class: "badge badge-risk", text: "at risk" }) : null,
        el("span", { text: `${conversation.inbox?.name || ""} · ${assignee}` }),
      ]),
    ],
  );
  return el("li", {}, [button]);
}

function refreshListItem(id) {
  const button = list.querySelector(`.conv-item[data-id="${id}"]`);
  const conversation = state.conversations.get(id);
  if (button && conversation) button.parentElement.replaceWith(listItem(conversation));
}

function bumpToTop(id) {
  state.order = [id, ...state.order.filter((other) => other !== id)];
  renderList();
}

// ------------------------------------------------------------------ supervisor: queue and load
async function loadSupervisor() {
  if (!IS_SUPERVISOR) return;
  try {
    const [queue, agents] = await Promise.all([
      apiAll("/api/v1/conversations/", { assignee: "none", status: ["open", "pending"] }, 2),
      api("/api/v1/agents/"),
    ]);
    queue.sort(
      (a, b) =>
        (PRIORITY_RANK[b.priority] ?? 1) - (PRIORITY_RANK[a.priority] ?? 1) ||
        Number(Boolean(b.contact?.at_risk)) - Number(Boolean(a.contact?.at_risk)) ||
        new Date(a.opened_at) - new Date(b.opened_at),
    );
    const queueList = clear($("queue"));
    $("queue-count").textContent = `(${queue.length})`;
    if (!queue.length) queueList.append(el("li", { class: "muted", text: "Nobody is waiting." }));
    for (const conversation of queue.slice(0, 15)) {
      queueList.append(
        el("li", {}, [
          el("span", { class: `badge badge-${conversation.priority}`, text: conversation.priority }),
          el("a", {
            href: `/console/c/${conversation.id}/`,
            text: contactLabel(conversation.contact),
            onclick: (event) => {
              event.preventDefault();
              openConversation(conversation.id);
            },
          }),
          el("span", { class: "muted", text: `waiting ${relative(conversation.opened_at)}` }),
        ]),
      );
    }
    const load = clear($("load"));
    for (const agent of (agents.results || agents)) {
      const open = agent.open_conversations || 0;
      const share = agent.capacity ? Math.min(100, Math.round((open / agent.capacity) * 100)) : 0;
      load.append(
        el("div", { class: "load-row" }, [
          el("span", {}, [
            el("span", { class: `badge badge-${agent.availability === "online" ? "open" : agent.availability === "busy" ? "pending" : "resolved"}`, text: agent.availability }),
            ` ${agent.display_name}`,
          ]),
          el("span", { class: "muted", text: `${open} / ${agent.capacity}` }),
          el("div", { class: "load-bar", role: "img", "aria-label": `${agent.display_name}: ${open} of ${agent.capacity} open conversations` }, [
            el("span", { class: open >= agent.capacity ? "full" : "", style: null, dataset: { width: String(share) } }),
          ]),
        ]),
      );
    }
    // Widths through the CSSOM (allowed by a strict CSP, unlike style attributes in markup).
    for (const bar of load.querySelectorAll(".load-bar span")) bar.style.width = `${bar.dataset.width}%`;
  } catch (error) {
    toast(`Could not load the queue: ${error.message}`, { error: true });
  }
}

// ------------------------------------------------------------------ one conversation
async function openConversation(id, { push = true } = {}) {
  id = Number(id);
  let conversation;
  try {
    conversation = await api(`/api/v1/conversations/${id}/`);
  } catch (error) {
    toast(error.status === 404 ? "That conversation does not exist or is not in your inboxes." : error.message, { error: true });
    return;
  }
  state.current = conversation;
  state.unread.delete(id);
  state.seen = new Set();
  state.lastSeq = 0;
  if (push && location.pathname !== `/console/c/${id}/`) history.pushState({ id }, "", `/console/c/${id}/`);
  root.classList.add("has-conversation");
  $("convo-empty").hidden = true;
  $("convo-view").hidden = false;
  renderHeader();
  replyChannel.value = defaultChannel(conversation);
  clear(timeline);
  clear($("typing-line"));
  for (const button of list.querySelectorAll(".conv-item")) {
    button.setAttribute("aria-current", Number(button.dataset.id) === id ? "true" : "false");
    if (Number(button.dataset.id) === id) button.classList.remove("unread");
  }
  let messages;
  let contact;
  try {
    [messages, contact] = await Promise.all([
      messagesOf(id),
      api(`/api/v1/contacts/${conversation.contact.id}/`).catch(() => null),
    ]);
  } catch (error) {
    toast(`Could not load the conversation: ${error.message}`, { error: true });
    return;
  }
  if (!state.current || state.current.id !== id) return;
  state.contact = contact;
  renderEarlier(contact, conversation);
  for (const message of messages) appendMessage(message);
  renderSurveysFor(conversation.id, timeline);
  renderContact(contact);
  live.send({ type: "resume", conversation_id: id, after_seq: state.lastSeq });
  markRead();
  timeline.scrollTop = timeline.scrollHeight;
}

/** Every message of a conversation, page by page (500 at a time, by seq). */
async function messagesOf(conversationId) {
  const all = [];
  let afterSeq = 0;
  for (let page = 0; page < 40; page += 1) {
    const batch = await api(`/api/v1/conversations/${conversationId}/messages/`, { params: { after_seq: afterSeq, limit: 500 } });
    all.push(...batch);
    if (batch.length < 500) break;
    afterSeq = batch[batch.length - 1].seq;
  }
  return all;
}

function defaultChannel(conversation) {
  const channel = conversation.last_customer_channel || conversation.inbox?.channel || "web";
  return channel === "api" ? "web" : channel;
}

function renderHeader() {
  const conversation = state.current;
  $("convo-title").textContent = contactLabel(conversation.contact);
  const badges = clear($("convo-badges"));
  badges.append(statusBadge(conversation.status));
  if (PRIORITY_RANK[conversation.priority] >= 2) badges.append(el("span", { class: `badge badge-${conversation.priority}`, text: conversation.priority }));
  if (conversation.contact?.at_risk) badges.append(el("span", { class: "badge badge-risk", text: "at risk" }));
  badges.append(el("span", { class: "muted", text: `${conversation.inbox?.name || ""} · ${conversation.assignee ? conversation.assignee.name : "unassigned"}${conversation.team ? ` · ${conversation.team.name}` : ""}` }));
  const resolved = conversation.status === "resolved";
  $("act-resolve").hidden = resolved;
  $("act-snooze").hidden = resolved || conversation.status === "snoozed";
  $("act-reopen").hidden = !resolved;
  if (conversation.status === "snoozed" && conversation.snoozed_until) {
    badges.append(el("span", { class: "muted", text: `snoozed until ${dateTime(conversation.snoozed_until)}` }));
  }
  $("act-assign-me").hidden = resolved || conversation.assignee?.id === ME;
  $("act-transfer").hidden = resolved;
}

function renderEarlier(contact, conversation) {
  if (!contact) return;
  const earlier = (contact.conversations || []).filter((other) => other.id !== conversation.id).reverse();
  for (const other of earlier) {
    const body = el("div", { class: "earlier-body" });
    const details = el("details", { class: "earlier", dataset: { conversationId: String(other.id) } }, [
      el("summary", {}, [
        el("span", { class: "earlier-conv-meta" }, [
          `Earlier conversation · ${dateTime(other.opened_at)} · ${other.inbox?.name || ""} · ${other.message_count ?? "?"} messages `,
          statusBadge(other.status),
        ]),
      ]),
      body,
    ]);
    details.addEventListener("toggle", async () => {
      if (!details.open || details.dataset.loaded) return;
      details.dataset.loaded = "1";
      try {
        const messages = await messagesOf(other.id);
        for (const message of messages) body.append(messageNode(message));
        renderSurveysFor(other.id, body);
        if (!messages.length) body.append(el("p", { class: "muted", text: "No messages." }));
      } catch (error) {
        body.append(el("p", { class: "muted", text: error.message }));
      }
    });
    timeline.append(details);
  }
  if (earlier.length) timeline.append(el("div", { class: "divider", text: `This conversation · opened ${dateTime(conversation.opened_at)}` }));
}

function surveyText(answer) {
  const parts = [];
  if (answer.csat != null) parts.push(`CSAT ${answer.csat}/5`);
  if (answer.ces != null) parts.push(`CES ${answer.ces}/7`);
  if (answer.nps != null) parts.push(`NPS ${answer.nps}/10`);
  return parts.join(" · ");
}

function isDetractor(answer) {
  return (answer.csat != null && answer.csat <= 2) || (answer.nps != null && answer.nps <= 6) || (answer.ces != null && answer.ces <= 3);
}

function surveyLabel(answer) {
  if (answer.status === "expired") return "expired without an answer";
  if (answer.status === "sent" || (!answer.answered_at && !surveyText(answer))) return `sent${answer.channel ? ` by ${answer.channel}` : ""}, no answer yet`;
  return surveyText(answer) || "answered";
}

function surveyNode(answer) {
  const answered = Boolean(answer.answered_at || surveyText(answer));
  const node = el("div", { class: `survey-inline${answered ? (isDetractor(answer) ? " detractor" : "") : " pending"}` }, [
    el("strong", { text: "Survey: " }),
    surveyLabel(answer),
    answer.agent?.name ? el("span", { class: "muted", text: ` · rated ${answer.agent.name}` }) : null,
    answer.comment ? el("span", {}, [" — “", el("q", { text: answer.comment }), "”"]) : null,
    answer.answered_at ? el("span", { class: "muted", text: ` · ${dateTime(answer.answered_at)}` }) : null,
  ]);
  return node;
}

function renderSurveysFor(conversationId, container) {
  const history = state.contact?.survey_history || [];
  for (const answer of history) {
    const belongs = answer.conversation_id === conversationId || answer.conversation === conversationId;
    if (belongs) container.append(surveyNode(answer));
  }
}

function messageNode(message) {
  const kind = message.sender?.kind;
  const outbound = kind === "agent" || kind === "bot" || message.direction === "out";
  const classes = ["msg", kind === "system" ? "system" : outbound ? "out" : "in"];
  if (message.is_note) classes.push("note");
  if (message.delivery_status === "failed") classes.push("failed");
  return el("div", { class: classes.join(" "), dataset: { seq: String(message.seq), conversationId: String(message.conversation_id) } }, [
    el("div", { class: "msg-meta" }, [
      el("span", { class: "sender", text: message.sender?.name || kind || "" }),
      channelBadge(message.channel),
      message.is_note ? el("span", { class: "badge badge-note", text: "internal note" }) : null,
      el("time", { datetime: message.created_at, text: dateTime(message.created_at), title: message.created_at }),
      message.delivery_status === "failed" ? el("span", { class: "badge badge-high", text: "not delivered", title: message.delivery_error || "" }) : null,
    ]),
    el("div", { class: "bubble", text: message.body }),
  ]);
}

function appendMessage(message) {
  if (!state.current || message.conversation_id !== state.current.id) return;
  if (state.seen.has(message.seq)) return;
  state.seen.add(message.seq);
  state.lastSeq = Math.max(state.lastSeq, message.seq);
  const node = messageNode(message);
  const later = Array.from(timeline.querySelectorAll(`:scope > .msg[data-seq]`)).find((other) => Number(other.dataset.seq) > message.seq);
  if (later) timeline.insertBefore(node, later);
  else timeline.append(node);
  const nearBottom = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 160;
  if (nearBottom || message.sender?.kind === "agent") timeline.scrollTop = timeline.scrollHeight;
}

function markRead() {
  if (state.current && state.lastSeq) live.send({ type: "read", conversation_id: state.current.id, seq: state.lastSeq });
}

window.addEventListener("popstate", () => {
  const match = location.pathname.match(/^\/console\/c\/(\d+)\/$/);
  if (match) openConversation(Number(match[1]), { push: false });
  else closeConversation();
});

function closeConversation() {
  state.current = null;
  root.classList.remove("has-conversation");
  $("convo-view").hidden = true;
  $("convo-empty").hidden = false;
  clear(contactPane);
}

$("back-to-list").addEventListener("click", () => {
  history.pushState({}, "", "/console/");
  closeConversation();
});

// ------------------------------------------------------------------ contact panel
function section(titleText, children) {
  return el("section", { class: "panel-section" }, [el("h3", { text: titleText }), ...children]);
}

function renderContact(contact) {
  clear(contactPane);
  if (!contact) {
    contactPane.append(el("p", { class: "muted", text: "Contact details are unavailable." }));
    return;
  }
  contactPane.append(el("h2", { class: "contact-name", text: contactLabel(contact) }));
  if (contact.at_risk) {
    contactPane.append(
      el("div", { class: "at-risk", role: "note" }, [
        "At risk",
        contact.at_risk_until ? el("span", { class: "muted", text: ` until ${dateTime(contact.at_risk_until)}` }) : null,
      ]),
    );
  }
  const details = el("dl", { class: "kv" });
  for (const [label, value] of [
    ["Email", contact.email],
    ["Phone", contact.phone],
    ["External id", contact.external_id],
    ["Since", contact.created_at && new Date(contact.created_at).toLocaleDateString()],
  ]) {
    if (value) details.append(el("dt", { text: label }), el("dd", { text: value }));
  }
  contactPane.append(details);

  const identities = el("ul", { class: "plain-list" });
  for (const identity of contact.identities || []) {
    identities.append(
      el("li", { class: "identity" }, [
        el("span", { class: "badge", text: identity.kind }),
        el("span", { class: "value", text: identity.value, title: identity.value }),
        identity.verified
          ? el("span", { class: "verified", text: "✓", title: "verified", "aria-label": "verified" })
          : el("span", { class: "unverified", text: "unverified" }),
      ]),
    );
  }
  if (!contact.identities?.length) identities.append(el("li", { class: "muted", text: "None yet." }));
  contactPane.append(section("Identities", [identities]));

  const attributes = el("dl", { class: "kv" });
  for (const [key, value] of Object.entries(contact.attributes || {})) {
    attributes.append(el("dt", { text: key }), el("dd", { text: typeof value === "object" ? JSON.stringify(value) : String(value) }));
  }
  if (!Object.keys(contact.attributes || {}).length) attributes.append(el("dd", { class: "muted", text: "No attributes." }));
  contactPane.append(section("Attributes", [attributes]));

  const conversations = el("ul", { class: "plain-list" });
  for (const other of contact.conversations || []) {
    const current = state.current && other.id === state.current.id;
    conversations.append(
      el("li", {}, [
        statusBadge(other.status),
        current
          ? el("span", { text: `${dateTime(other.opened_at)} (this one)` })
          : el("a", {
              href: `/console/c/${other.id}/`,
              text: `${dateTime(other.opened_at)} · ${other.inbox?.name || ""}`,
              onclick: (event) => {
                event.preventDefault();
                openConversation(other.id);
              },
            }),
      ]),
    );
  }
  contactPane.append(section("Conversations", [conversations]));

  const surveys = el("ul", { class: "plain-list" });
  for (const answer of contact.survey_history || []) {
    surveys.append(
      el("li", {}, [
        el("span", {
          class: `badge ${!surveyText(answer) ? "badge-resolved" : isDetractor(answer) ? "badge-risk" : "badge-open"}`,
          text: surveyLabel(answer),
        }),
        el("span", { class: "muted", text: dateTime(answer.answered_at || answer.sent_at) }),
      ]),
    );
    if (answer.comment) surveys.append(el("li", {}, [el("q", { text: answer.comment })]));
  }
  if (!contact.survey_history?.length) surveys.append(el("li", { class: "muted", text: "No survey answers yet." }));
  contactPane.append(section("Satisfaction", [surveys]));
}

// ------------------------------------------------------------------ reply box
noteToggle.addEventListener("change", () => {
  composer.classList.toggle("note-mode", noteToggle.checked);
  replyChannel.disabled = noteToggle.checked;
  replyBox.placeholder = noteToggle.checked ? "Write an internal note (never shown to the customer)…" : "Write a reply…";
  $("send-reply").textContent = noteToggle.checked ? "Add note" : "Send";
});

composer.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!state.current) return;
  const body = replyBox.value.trim();
  if (!body) return;
  const payload = { body, is_note: noteToggle.checked, client_msg_id: uuid() };
  if (!noteToggle.checked) payload.channel = replyChannel.value;
  const button = $("send-reply");
  button.disabled = true;
  try {
    const message = await api(`/api/v1/conversations/${state.current.id}/messages/`, { method: "POST", body: payload });
    replyBox.value = "";
    appendMessage(message);
    timeline.scrollTop = timeline.scrollHeight;
    sendTyping(false);
  } catch (error) {
    toast(`Not sent: ${error.message}`, { error: true });
  } finally {
    button.disabled = false;
    replyBox.focus();
  }
});

replyBox.addEventListener("keydown", (event) => {
  if (!cannedList.hidden) {
    const items = cannedList.querySelectorAll("li");
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      state.cannedIndex = (state.cannedIndex + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      highlightCanned();
      return;
    }
    if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      items[state.cannedIndex]?.click();
      return;
    }
    if (event.key === "Escape") {
      event.preventDefault();
      hideCanned();
      return;
    }
  }
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    composer.requestSubmit();
  }
});

replyBox.addEventListener("input", () => {
  showCanned();
  if (!noteToggle.checked && replyBox.value.trim()) sendTyping(true);
});

function sendTyping(on) {
  if (!state.current) return;
  clearTimeout(state.typingTimer);
  if (on) state.typingTimer = setTimeout(() => sendTyping(false), 3000);
  if (state.typingOn === on) return;
  state.typingOn = on;
  live.send({ type: "typing", conversation_id: state.current.id, on });
}

async function showCanned() {
  if (!/(?:^|\s)\/[\w-]*$/.test(replyBox.value.slice(0, replyBox.selectionStart))) {
    hideCanned();
    return;
  }
  if (!state.cannedLoading) state.cannedLoading = api("/api/v1/canned-responses/").catch(() => []);
  state.canned = await state.cannedLoading;
  // Read the text again: the agent may have typed on while the list loaded.
  const match = replyBox.value.slice(0, replyBox.selectionStart).match(/(?:^|\s)\/([\w-]*)$/);
  if (!match) {
    hideCanned();
    return;
  }
  const prefix = match[1].toLowerCase();
  const found = state.canned.filter((item) => item.shortcut.toLowerCase().startsWith(prefix));
  if (!found.length) {
    hideCanned();
    return;
  }
  clear(cannedList);
  found.forEach((item, index) => {
    cannedList.append(
      el(
        "li",
        {
          role: "option",
          id: `canned-${index}`,
          onmousedown: (event) => event.preventDefault(),
          onclick: () => insertCanned(item),
        },
        [el("span", { class: "shortcut", text: `/${item.shortcut}` }), el("span", { class: "preview", text: item.body })],
      ),
    );
  });
  state.cannedIndex = 0;
  cannedList.hidden = false;
  replyBox.setAttribute("aria-expanded", "true");
  highlightCanned();
}

function highlightCanned() {
  cannedList.querySelectorAll("li").forEach((item, index) => {
    item.setAttribute("aria-selected", index === state.cannedIndex ? "true" : "false");
    if (index === state.cannedIndex) {
      replyBox.setAttribute("aria-activedescendant", item.id);
      item.scrollIntoView({ block: "nearest" });
    }
  });
}

function hideCanned() {
  cannedList.hidden = true;
  replyBox.setAttribute("aria-expanded", "false");
  replyBox.removeAttribute("aria-activedescendant");
}

function insertCanned(item) {
  const caret = replyBox.selectionStart;
  const typed = replyBox.value.slice(0, caret).match(/\/[\w-]*$/);
  const typedLength = typed ? typed[0].length : 0;
  const before = replyBox.value.slice(0, caret - typedLength);
  const after = replyBox.value.slice(caret);
  replyBox.value = before + item.body + after;
  const position = before.length + item.body.length;
  replyBox.setSelectionRange(position, position);
  hideCanned();
  replyBox.focus();
}

// ------------------------------------------------------------------ actions
async function act(path, body, done) {
  if (!state.current) return;
  try {
    const conversation = await api(`/api/v1/conversations/${state.current.id}/${path}/`, { method: "POST", body: body || {} });
    state.current = conversation;
    state.conversations.set(conversation.id, conversation);
    renderHeader();
    refreshListItem(conversation.id);
    if (done) done(conversation);
    reloadListSoon();
    return conversation;
  } catch (error) {
    toast(error.message, { error: true });
    throw error;
  }
}

$("act-assign-me").addEventListener("click", () => act("assign", { assignee: ME }, () => toast("Assigned to you.")));
$("act-resolve").addEventListener("click", () => act("resolve", null, () => toast("Resolved.")));
$("act-reopen").addEventListener("click", () => act("reopen", null, () => toast("Reopened.")));

const transferDialog = $("transfer-dialog");
$("act-transfer").addEventListener("click", () => {
  $("transfer-error").hidden = true;
  $("transfer-note").value = "";
  transferDialog.showModal();
});
$("transfer-cancel").addEventListener("click", () => transferDialog.close());
$("transfer-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const agent = $("transfer-agent").value;
  const team = $("transfer-team").value;
  if (!agent && !team) {
    $("transfer-error").textContent = "Pick an agent, a team, or both.";
    $("transfer-error").hidden = false;
    return;
  }
  try {
    await act("transfer", { agent: agent ? Number(agent) : null, team: team ? Number(team) : null, note: $("transfer-note").value });
    transferDialog.close();
    toast("Transferred.");
    openConversation(state.current.id, { push: false });
  } catch (error) {
    $("transfer-error").textContent = error.message;
    $("transfer-error").hidden = false;
  }
});

const snoozeDialog = $("snooze-dialog");
function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
$("act-snooze").addEventListener("click", () => {
  $("snooze-error").hidden = true;
  $("snooze-until").value = localInputValue(new Date(Date.now() + 3600 * 1000));
  snoozeDialog.showModal();
});
$("snooze-cancel").addEventListener("click", () => snoozeDialog.close());
for (const button of snoozeDialog.querySelectorAll("[data-snooze-hours], [data-snooze-tomorrow]")) {
  button.addEventListener("click", () => {
    let until;
    if (button.dataset.snoozeHours) until = new Date(Date.now() + Number(button.dataset.snoozeHours) * 3600 * 1000);
    else {
      until = new Date();
      until.setDate(until.getDate() + 1);
      until.setHours(Number(button.dataset.snoozeTomorrow), 0, 0, 0);
    }
    $("snooze-until").value = localInputValue(until);
  });
}
$("snooze-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const until = new Date($("snooze-until").value);
  if (Number.isNaN(until.getTime())) return;
  try {
    await act("snooze", { until: until.toISOString() });
    snoozeDialog.close();
    toast(`Snoozed until ${dateTime(until.toISOString())}.`);
  } catch (error) {
    $("snooze-error").textContent = error.message;
    $("snooze-error").hidden = false;
  }
});

// ------------------------------------------------------------------ live frames
function onFrame(frame) {
  switch (frame.type) {
    case "message":
      if (frame.message) onMessage(frame.message);
      break;
    case "ack":
      if (frame.message) onMessage(frame.message);
      break;
    case "message.updated":
      if (frame.message) onMessageUpdated(frame.message);
      break;
    case "conversation.updated":
      onConversationUpdated(frame.conversation || {});
      break;
    case "ready":
      if (frame.user) syncAvailability(frame.user.availability);
      break;
    case "typing":
      onTyping(frame);
      break;
    case "survey.answered":
      onSurveyAnswered(frame);
      break;
    case "presence":
      if (frame.agent && frame.agent.id === ME) syncAvailability(frame.agent.availability);
      if (IS_SUPERVISOR) reloadListSoon();
      break;
    case "error":
      if (frame.code !== "not_found") toast(frame.detail || frame.code, { error: true });
      break;
    default:
      break;
  }
}

function onMessage(message) {
  const id = message.conversation_id;
  const fromCustomer = message.sender?.kind === "contact";
  if (state.current && state.current.id === id) {
    appendMessage(message);
    if (fromCustomer) {
      clear($("typing-line"));
      if (!document.hidden) markRead();
    }
  }
  const known = state.conversations.get(id);
  if (known) {
    known.last_activity_at = message.created_at;
    if (fromCustomer) known.last_customer_channel = message.channel;
    if (!(state.current && state.current.id === id) && !message.is_note) state.unread.add(id);
    bumpToTop(id);
  } else {
    reloadListSoon();
  }
  // Alert for new conversations, the queue and one's own; not for a colleague's cases.
  const mineOrQueued = !known || !known.assignee || known.assignee.id === ME;
  if (fromCustomer && mineOrQueued) alertNewMessage(message);
}

function alertNewMessage(message) {
  beep();
  const watching = state.current && state.current.id === message.conversation_id && !document.hidden;
  if (!watching) {
    notify(`New message from ${message.sender?.name || "a customer"}`, message.body || "", () => openConversation(message.conversation_id));
  }
}

async function onSurveyAnswered(frame) {
  if (!state.current) return;
  if (!frame.response || !frame.conversation_id) {
    // Only the invitation came: read the person's survey history again.
    const id = state.current.id;
    const contact = await api(`/api/v1/contacts/${state.current.contact.id}/`).catch(() => null);
    if (!contact || !state.current || state.current.id !== id) return;
    state.contact = contact;
    renderContact(contact);
    for (const node of timeline.querySelectorAll(":scope > .survey-inline")) node.remove();
    renderSurveysFor(id, timeline);
    timeline.scrollTop = timeline.scrollHeight;
    return;
  }
  if (frame.conversation_id !== state.current.id) return;
  const answer = { ...frame.response, status: "answered", conversation_id: frame.conversation_id };
  const existing = timeline.querySelector(`:scope > .survey-inline[data-invitation="${frame.invitation}"]`);
  const node = surveyNode(answer);
  node.dataset.invitation = String(frame.invitation);
  if (existing) existing.replaceWith(node);
  else timeline.append(node);
  timeline.scrollTop = timeline.scrollHeight;
}

function onMessageUpdated(message) {
  if (!state.current || message.conversation_id !== state.current.id) return;
  const old = timeline.querySelector(`:scope > .msg[data-seq="${message.seq}"]`);
  if (old) old.replaceWith(messageNode(message));
}

function syncAvailability(availability) {
  const select = document.getElementById("availability-switch");
  if (!select || !availability) return;
  select.value = availability;
  select.closest(".availability").dataset.current = availability;
}

function onConversationUpdated(update) {
  const id = update.id;
  if (state.current && state.current.id === id) {
    api(`/api/v1/conversations/${id}/`)
      .then((conversation) => {
        if (state.current && state.current.id === id) {
          state.current = conversation;
          renderHeader();
        }
      })
      .catch(() => {});
  }
  reloadListSoon();
}

function onTyping(frame) {
  if (!state.current || frame.conversation_id !== state.current.id) return;
  if (frame.sender && frame.sender.kind === "agent") return;
  const line = $("typing-line");
  line.textContent = frame.on === false ? "" : `${frame.sender?.name || contactLabel(state.current.contact)} is typing…`;
  clearTimeout(state.theirTyping);
  state.theirTyping = setTimeout(() => {
    line.textContent = "";
  }, 6000);
}

const live = new LiveSocket({
  onFrame,
  // The open timeline catches up in the connect URL itself (atomic, in order).
  resumeList: () => (state.current ? [[state.current.id, state.lastSeq]] : []),
  onOpen: () => {
    // After a reconnect: whatever changed in the list meanwhile.
    reloadListSoon();
  },
  onStatus: (status) => {
    document.body.dataset.live = status;
    if (status === "logged-out") location.assign(`/console/login/?next=${encodeURIComponent(location.pathname)}`);
  },
});

// ------------------------------------------------------------------ notifications permission
function offerNotifications() {
  if (!notificationsAvailable() || Notification.permission !== "default") return;
  if (localStorage.getItem("cxhub.console.notifications") === "not-now") return;
  const bar = el("div", { class: "notify-bar" }, [
    el("span", { text: "Get a desktop notification when a customer writes?" }),
    el("button", {
      type: "button",
      class: "btn btn-small",
      text: "Turn on",
      onclick: async () => {
        await askNotificationPermission();
        bar.remove();
      },
    }),
    el("button", {
      type: "button",
      class: "btn btn-small btn-quiet",
      text: "Not now",
      onclick: () => {
        localStorage.setItem("cxhub.console.notifications", "not-now");
        bar.remove();
      },
    }),
  ]);
  document.querySelector(".pane-list .pane-head").after(bar);
}

// ------------------------------------------------------------------ boot
restoreFilters();
loadList();
if (IS_SUPERVISOR) {
  loadSupervisor();
  setInterval(loadSupervisor, 30000);
}
document.addEventListener("cxhub:availability", () => IS_SUPERVISOR && loadSupervisor());
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) markRead();
});
setInterval(() => {
  for (const when of list.querySelectorAll(".when")) when.textContent = relative(when.title);
}, 60000);
offerNotifications();
live.connect();
if (root.dataset.conversationId) openConversation(Number(root.dataset.conversationId), { push: false });
window.cxhubConsole = { state, openConversation, loadList };
