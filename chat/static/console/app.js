// The agent console: the live conversation list, one cross-channel timeline, the contact panel,
// the reply box (channels, notes, /shortcuts), conversation actions and the supervisor's queue.
import { askNotificationPermission, beep, notificationsAvailable, notify } from "./alerts.js";
import { api, apiAll } from "./api.js";
import { composerFiles, filesNode } from "./attachments.js";
import "./search.js";
import {
  CHANNEL_LABELS,
  channelBadge,
  clear,
  contactLabel,
  dateOnly,
  dateTime,
  el,
  relative,
  statusBadge,
  toast,
  uuid,
  valueLabel,
} from "./dom.js";
import { applyFilterUi } from "./filters.js";
import { format, gettext, ngettext, number } from "./i18n.js";
import { LiveSocket } from "./live.js";
import { linkify } from "../chat/linkify.js";
import { loadPredictions, predictionBadge, showPrediction } from "./satisfaction.js";
import { alertSla, slaBadge, slaEventText } from "./sla.js";
import { initBulk, keepOnly, rowCheckbox } from "./bulk.js";
import { attributesSection, loadDefinitions, notesSection, renderAttributeFilter } from "./contacts.js";
import { initKeyboard, isSendKey } from "./keyboard.js";
import { initMacros } from "./macros.js";
import { initMentions, isFollowing, onMention, readMentionsOf, renderFollow } from "./mentions.js";
import { labelChips, labelMenu, loadLabels, renderLabelFilter } from "./labels.js";
import { initViews, refreshCounts } from "./views.js";
import { applyMessage, previewLine, readSort, refreshWaiting, restoreSort, unreadBadge, updateTitle, waitingBadge } from "./worklist.js";

const root = document.getElementById("console");
const ME = Number(root.dataset.userId);
const IS_SUPERVISOR = root.dataset.supervisor === "true";
const FILTER_KEYS = ["status", "inbox", "channel", "assignee", "team", "label", "attribute"];
const FILTER_STORE = "cxhub.console.filters";
const PRIORITY_RANK = { low: 0, normal: 1, high: 2, urgent: 3 };
// The longest body the server stores (settings.MESSAGE_BODY_MAX_CHARS), in code points as Python counts.
const BODY_MAX = Number(root.dataset.bodyMaxChars) || 10000;
const COUNTER_FROM = 0.9; // the counter shows from 90 % of the limit
const NEAR_BOTTOM_PX = 48; // "at the bottom" for following new messages
const CHANNEL_NAMES = CHANNEL_LABELS;

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
  eventIds: new Set(), // timeline events shown
  failures: new Map(), // seq -> message not delivered (current conversation)
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
  state.savedLabels = saved.label || [];
  state.savedAttributes = saved.attribute || [];
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
/** A saved view's filters become the list's (views.js). */
function applyFilters(filters) {
  renderLabelFilter();
  renderAttributeFilter(filters.attribute || []);
  for (const key of FILTER_KEYS) {
    for (const input of document.querySelectorAll(`#filters input[name="${key}"]`)) {
      input.checked = (filters[key] || []).includes(input.value);
    }
  }
  $("search").value = filters.q || "";
  if (filters.sort) $("sort").value = filters.sort;
  onFiltersChanged();
}

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
    const rows = await apiAll("/api/v1/conversations/", { ...readFilters(), sort: readSort() }, 4);
    if (mine !== listRequest) return;
    for (const row of rows) if (state.current && state.current.id === row.id) row.unread_count = 0; // being read
    state.conversations = new Map(rows.map((row) => [row.id, row]));
    state.order = rows.map((row) => row.id);
    renderList();
    if (IS_SUPERVISOR) loadPredictions(state.order, (ids) => ids.forEach(refreshListItem));
  } catch (error) {
    toast(format(gettext("Could not load conversations: %(error)s"), { error: error.message }), { error: true });
  } finally {
    if (mine === listRequest) list.setAttribute("aria-busy", "false");
  }
}

let listReloadTimer = null;
function reloadListSoon() {
  clearTimeout(listReloadTimer);
  listReloadTimer = setTimeout(() => {
    loadList();
    refreshCounts();
    if (IS_SUPERVISOR) loadSupervisor();
  }, 300);
}

function renderList() {
  clear(list);
  updateTitle(state.conversations.values());
  keepOnly(state.order);
  if (!state.order.length) {
    list.append(el("li", { class: "empty", text: gettext("No conversations match these filters.") }));
    return;
  }
  for (const id of state.order) list.append(listItem(state.conversations.get(id)));
}

function listItem(conversation) {
  const current = state.current && state.current.id === conversation.id;
  const assignee = conversation.assignee ? conversation.assignee.name : gettext("Unassigned");
  const button = el(
    "button",
    {
      type: "button",
      class: `conv-item${state.unread.has(conversation.id) || conversation.unread_count ? " unread" : ""}`,
      "aria-current": current ? "true" : "false",
      dataset: { id: String(conversation.id) },
      onclick: () => openConversation(conversation.id),
    },
    [
      el("span", { class: "who", text: contactLabel(conversation.contact) }),
      el("span", { class: "when", text: relative(conversation.last_activity_at), title: conversation.last_activity_at }, [unreadBadge(conversation)]),
      previewLine(conversation),
      el("span", { class: "meta" }, [
        waitingBadge(conversation),
        labelChips(conversation.labels),
        channelBadge(conversation.last_customer_channel || conversation.inbox?.channel),
        statusBadge(conversation.status),
        PRIORITY_RANK[conversation.priority] >= 2 ? el("span", { class: `badge badge-${conversation.priority}`, text: valueLabel(conversation.priority) }) : null,
        conversation.contact?.at_risk ? el("span", { class: "badge badge-risk", text: gettext("at risk") }) : null,
        IS_SUPERVISOR ? predictionBadge(conversation.id) : null,
        slaBadge(conversation),
        el("span", { text: `${conversation.inbox?.name || ""} · ${assignee}` }),
      ]),
    ],
  );
  return el("li", { class: "selectable" }, [rowCheckbox(conversation), button]);
}

function refreshListItem(id) {
  const button = list.querySelector(`.conv-item[data-id="${id}"]`);
  const conversation = state.conversations.get(id);
  if (button && conversation) button.parentElement.replaceWith(listItem(conversation));
}

function bumpToTop(id) {
  if (readSort() === "due") return reloadListSoon();
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
    $("queue-count").textContent = `(${number(queue.length)})`;
    if (!queue.length) queueList.append(el("li", { class: "muted", text: gettext("Nobody is waiting.") }));
    for (const conversation of queue.slice(0, 15)) {
      queueList.append(
        el("li", {}, [
          el("span", { class: `badge badge-${conversation.priority}`, text: valueLabel(conversation.priority) }),
          el("a", {
            href: `/console/c/${conversation.id}/`,
            text: contactLabel(conversation.contact),
            onclick: (event) => {
              event.preventDefault();
              openConversation(conversation.id);
            },
          }),
          el("span", { class: "muted", text: format(gettext("opened %(when)s"), { when: relative(conversation.opened_at) }) }),
          slaBadge(conversation),
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
            el("span", { class: `badge badge-${agent.availability === "online" ? "open" : agent.availability === "busy" ? "pending" : "resolved"}`, text: valueLabel(agent.availability) }),
            ` ${agent.display_name}`,
          ]),
          el("span", { class: "muted", text: `${number(open)} / ${number(agent.capacity)}` }),
          el("div", { class: "load-bar", role: "img", "aria-label": format(ngettext("%(name)s: %(open)s of %(capacity)s open conversation", "%(name)s: %(open)s of %(capacity)s open conversations", agent.capacity), { name: agent.display_name, open: number(open), capacity: number(agent.capacity) }) }, [
            el("span", { class: open >= agent.capacity ? "full" : "", style: null, dataset: { width: String(share) } }),
          ]),
        ]),
      );
    }
    // Widths through the CSSOM (allowed by a strict CSP, unlike style attributes in markup).
    for (const bar of load.querySelectorAll(".load-bar span")) bar.style.width = `${bar.dataset.width}%`;
  } catch (error) {
    toast(format(gettext("Could not load the queue: %(error)s"), { error: error.message }), { error: true });
  }
}

// ------------------------------------------------------------------ one conversation
async function openConversation(id, { push = true } = {}) {
  id = Number(id);
  let conversation;
  try {
    conversation = await api(`/api/v1/conversations/${id}/`);
  } catch (error) {
    toast(error.status === 404 ? gettext("That conversation does not exist or is not in your inboxes.") : error.message, { error: true });
    return;
  }
  state.current = conversation;
  state.unread.delete(id);
  markListRead(id);
  state.seen = new Set();
  state.eventIds = new Set();
  state.failures = new Map();
  state.lastSeq = 0;
  if (push && location.pathname !== `/console/c/${id}/`) history.pushState({ id }, "", `/console/c/${id}/`);
  root.classList.add("has-conversation");
  $("convo-empty").hidden = true;
  $("convo-view").hidden = false;
  renderHeader();
  refreshPrediction(id);
  state.sendError = "";
  renderReplyChannels({ reset: true });
  composerFiles.forInbox(conversation.inbox);
  clear(timeline);
  hideJump();
  clear($("typing-line"));
  for (const button of list.querySelectorAll(".conv-item")) {
    button.setAttribute("aria-current", Number(button.dataset.id) === id ? "true" : "false");
    if (Number(button.dataset.id) === id) button.classList.remove("unread");
  }
  let messages;
  let contact;
  let events;
  try {
    [messages, contact, events] = await Promise.all([
      messagesOf(id),
      api(`/api/v1/contacts/${conversation.contact.id}/`).catch(() => null),
      api(`/api/v1/conversations/${id}/events/`).catch(() => []),
    ]);
  } catch (error) {
    toast(format(gettext("Could not load the conversation: %(error)s"), { error: error.message }), { error: true });
    return;
  }
  if (!state.current || state.current.id !== id) return;
  state.contact = contact;
  renderEarlier(contact, conversation);
  for (const message of messages) placeMessage(message);
  for (const event of events) placeEvent(event);
  renderSurveysFor(conversation.id, timeline);
  renderContact(contact);
  live.send({ type: "resume", conversation_id: id, after_seq: state.lastSeq });
  markRead();
  readMentionsOf(id);
  scrollToEnd();
}

/** Events missed while the socket was down (a reconnect): read them again, add the new ones. */
async function catchUpEvents() {
  if (!state.current) return;
  const id = state.current.id;
  const events = await api(`/api/v1/conversations/${id}/events/`).catch(() => []);
  if (!state.current || state.current.id !== id) return;
  addToTimeline(() => {
    for (const event of events) placeEvent(event);
  });
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

/** "Reply via" offers the channels the server says can reach the customer; the others say why not. */
function renderReplyChannels({ reset = false } = {}) {
  const conversation = state.current;
  const known = new Map((conversation.reply_channels || []).map((item) => [item.channel, item]));
  const previous = replyChannel.value;
  for (const option of replyChannel.options) {
    const info = known.get(option.value);
    const available = !info || info.available;
    option.disabled = !available;
    option.textContent = available ? CHANNEL_NAMES[option.value] : `${CHANNEL_NAMES[option.value]} — ${info.detail || info.reason}`;
  }
  const usable = Array.from(replyChannel.options).filter((option) => !option.disabled);
  const preferred = reset ? defaultChannel(conversation) : previous;
  const chosen = usable.find((option) => option.value === preferred) || usable.find((option) => option.value === defaultChannel(conversation)) || usable[0];
  if (chosen) replyChannel.value = chosen.value;
  state.noReplyChannel = !usable.length;
  updateComposer();
}

const SUBJECT_PREFIX = /^\s*((re|fwd?|aw|wg|sv|antw)\s*(\[\d+\])?\s*:\s*)+/i;
function sameSubject(a, b) {
  const norm = (text) => (text || "").replace(SUBJECT_PREFIX, "").replace(/\s+/g, " ").trim().toLowerCase();
  return norm(a) === norm(b);
}

function renderHeader() {
  const conversation = state.current;
  $("convo-title").textContent = contactLabel(conversation.contact);
  const subject = $("convo-subject");
  subject.textContent = conversation.subject || "";
  subject.title = conversation.subject || "";
  subject.hidden = !conversation.subject;
  const badges = clear($("convo-badges"));
  badges.append(statusBadge(conversation.status));
  if (PRIORITY_RANK[conversation.priority] >= 2) badges.append(el("span", { class: `badge badge-${conversation.priority}`, text: valueLabel(conversation.priority) }));
  if (conversation.contact?.at_risk) badges.append(el("span", { class: "badge badge-risk", text: gettext("at risk") }));
  const countdown = slaBadge(conversation);
  if (countdown) badges.append(countdown);
  badges.append(el("span", { class: "muted", text: `${conversation.inbox?.name || ""} · ${conversation.assignee ? conversation.assignee.name : gettext("unassigned")}${conversation.team ? ` · ${conversation.team.name}` : ""}` }));
  const resolved = conversation.status === "resolved";
  $("act-resolve").hidden = resolved;
  $("act-snooze").hidden = resolved || conversation.status === "snoozed";
  $("act-unsnooze").hidden = conversation.status !== "snoozed";
  $("act-reopen").hidden = !resolved;
  $("act-pending").hidden = resolved || conversation.status === "pending";
  if (conversation.status === "snoozed" && conversation.snoozed_until) {
    badges.append(el("span", { class: "muted", text: format(gettext("snoozed until %(when)s"), { when: dateTime(conversation.snoozed_until) }) }));
  }
  $("act-assign-me").hidden = resolved || conversation.assignee?.id === ME;
  $("act-transfer").hidden = resolved;
  renderConversationLabels(conversation);
  renderFollow(conversation, (updated) => {
    if (!state.current || state.current.id !== updated.id) return;
    state.current = updated;
    renderHeader();
    const row = state.conversations.get(updated.id);
    if (row) row.participants = updated.participants;
  });
}

function renderConversationLabels(conversation) {
  const holder = clear($("convo-labels"));
  const target = { url: `/api/v1/conversations/${conversation.id}/labels/`, labels: conversation.labels };
  holder.append(
    labelChips(conversation.labels) || "",
    labelMenu(target, (updated) => {
      if (!state.current || state.current.id !== updated.id) return;
      state.current = updated;
      renderHeader();
      const row = state.conversations.get(updated.id);
      if (row) {
        row.labels = updated.labels;
        refreshListItem(updated.id);
      }
      refreshCounts();
    }, { canCreate: IS_SUPERVISOR }),
  );
}

function contactLabelsSection(contact) {
  const target = { url: `/api/v1/contacts/${contact.id}/labels/`, labels: contact.labels };
  return section(gettext("Labels"), [
    labelChips(contact.labels) || el("span", { class: "muted", text: gettext("None") }),
    labelMenu(target, (updated) => {
      if (state.contact && state.contact.id === updated.id) {
        state.contact = updated;
        renderContact(updated);
      }
    }, { canCreate: IS_SUPERVISOR }),
  ]);
}

// Supervisors: the predicted satisfaction of the open conversation (chat/static/console/satisfaction.js),
// read again a moment after each message, once the metrics pipeline has scored it.
const PREDICTION_DELAY_MS = 1500;
let predictionTimer = null;
function refreshPrediction(id, { later = false } = {}) {
  const holder = $("convo-prediction");
  if (!IS_SUPERVISOR || !holder) return;
  clearTimeout(predictionTimer);
  const isCurrent = (which) => state.current && state.current.id === which;
  if (!later) holder.hidden = true;
  predictionTimer = setTimeout(
    () => {
      showPrediction(id, holder, isCurrent);
      loadPredictions([id], (ids) => ids.forEach(refreshListItem));
    },
    later ? PREDICTION_DELAY_MS : 0,
  );
}

function renderEarlier(contact, conversation) {
  if (!contact) return;
  const earlier = (contact.conversations || []).filter((other) => other.id !== conversation.id).reverse();
  for (const other of earlier) {
    const body = el("div", { class: "earlier-body" });
    const details = el("details", { class: "earlier", dataset: { conversationId: String(other.id) } }, [
      el("summary", {}, [
        el("span", { class: "earlier-conv-meta" }, [
          `${format(ngettext("Earlier conversation · %(when)s · %(inbox)s · %(count)s message", "Earlier conversation · %(when)s · %(inbox)s · %(count)s messages", other.message_count ?? 0), { when: dateTime(other.opened_at), inbox: other.inbox?.name || "", count: other.message_count ?? "?" })} `,
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
        for (const message of messages) body.append(messageNode(message, other.subject));
        renderSurveysFor(other.id, body);
        if (!messages.length) body.append(el("p", { class: "muted", text: gettext("No messages.") }));
      } catch (error) {
        body.append(el("p", { class: "muted", text: error.message }));
      }
    });
    timeline.append(details);
  }
  if (earlier.length) timeline.append(el("div", { class: "divider", text: format(gettext("This conversation · opened %(when)s"), { when: dateTime(conversation.opened_at) }) }));
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
  if (answer.status === "expired") return gettext("expired without an answer");
  if (answer.status === "sent" || (!answer.answered_at && !surveyText(answer))) {
    return answer.channel
      ? format(gettext("sent by %(channel)s, no answer yet"), { channel: CHANNEL_NAMES[answer.channel] || answer.channel })
      : gettext("sent, no answer yet");
  }
  return surveyText(answer) || gettext("answered");
}

function surveyNode(answer) {
  const answered = Boolean(answer.answered_at || surveyText(answer));
  const node = el("div", { class: `survey-inline${answered ? (isDetractor(answer) ? " detractor" : "") : " pending"}` }, [
    el("strong", { text: `${gettext("Survey:")} ` }),
    surveyLabel(answer),
    answer.agent?.name ? el("span", { class: "muted", text: ` · ${format(gettext("rated %(agent)s"), { agent: answer.agent.name })}` }) : null,
    answer.comment ? el("span", {}, [" — ", el("q", { text: answer.comment })]) : null,
    answer.answered_at ? el("span", { class: "muted", text: ` · ${dateTime(answer.answered_at)}` }) : null,
  ]);
  return node;
}

function renderSurveysFor(conversationId, container) {
  const history = state.contact?.survey_history || [];
  for (const answer of history) {
    const belongs = answer.conversation_id === conversationId || answer.conversation === conversationId;
    if (!belongs) continue;
    const node = surveyNode(answer);
    // So that a live answer replaces the "sent, no answer yet" line instead of adding a second one.
    if (answer.invitation_id) node.dataset.invitation = String(answer.invitation_id);
    container.append(node);
  }
}


function messageNode(message, conversationSubject = state.current?.subject) {
  const kind = message.sender?.kind;
  const outbound = kind === "agent" || kind === "bot" || message.direction === "out";
  const classes = ["msg", kind === "system" ? "system" : outbound ? "out" : "in"];
  if (message.is_note) classes.push("note");
  const failed = message.delivery_status === "failed";
  if (failed) classes.push("failed");
  const cut = message.shortened;
  return el("div", { class: classes.join(" "), dataset: { seq: String(message.seq), conversationId: String(message.conversation_id) } }, [
    el("div", { class: "msg-meta" }, [
      el("span", { class: "sender", text: message.sender?.name || kind || "" }),
      channelBadge(message.channel),
      message.is_note ? el("span", { class: "badge badge-note", text: gettext("internal note") }) : null,
      el("time", { datetime: message.created_at, text: dateTime(message.created_at), title: message.created_at }),
      failed ? el("span", { class: "badge badge-high", text: gettext("not delivered") }) : null,
    ]),
    message.subject && !sameSubject(message.subject, conversationSubject) ? el("p", { class: "msg-subject", text: format(gettext("Subject: %(subject)s"), { subject: message.subject }) }) : null,
    // Links are built as <a> elements by linkify (http, https and mailto only); the rest stays text.
    el("div", { class: "bubble", dir: "auto" }, [linkify(message.body || "")]),
    filesNode(message),
    cut
      ? el("p", {
          class: "msg-shortened",
          text: cut.attachment
            ? format(gettext("Message shortened: %(over)s characters over the limit. The full text is attached (%(file)s)."), { over: number(cut.over_by), file: cut.attachment })
            : format(gettext("Message shortened: %(over)s characters over the limit."), { over: number(cut.over_by) }),
        })
      : null,
    failed ? el("p", { class: "delivery-error", role: "note", text: format(gettext("Not delivered: %(reason)s"), { reason: message.delivery_error || gettext("no reason was given") }) }) : null,
  ]);
}

// --- timeline order: a message sits at its seq; an event after the message `after_seq` (then by id).
function orderKey(node) {
  if (node.dataset.eventId) return [Number(node.dataset.afterSeq), 1, Number(node.dataset.eventId)];
  return [Number(node.dataset.seq), 0, 0];
}

function before(a, b) {
  for (let i = 0; i < 3; i += 1) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

function insertInOrder(node) {
  const key = orderKey(node);
  const later = Array.from(timeline.querySelectorAll(":scope > .msg[data-seq], :scope > .event-line")).find((other) => before(key, orderKey(other)));
  if (later) timeline.insertBefore(node, later);
  else timeline.append(node);
}

// --- following new messages: stay at the bottom if the agent was there, else offer a jump.
const jumpButton = $("jump-new");
let stickToEnd = true; // the agent is reading the newest messages (updated as they scroll)
function nearBottom() {
  return timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < NEAR_BOTTOM_PX;
}

function scrollToEnd() {
  timeline.scrollTop = timeline.scrollHeight;
  stickToEnd = true;
  hideJump();
}

function hideJump() {
  jumpButton.hidden = true;
}

/** Change the timeline; follow it to the end when the agent was at (or near) the end before the
 * change, whatever the size of what came; otherwise keep their place and show "New messages". */
function addToTimeline(change, { follow = false } = {}) {
  const wasAtEnd = stickToEnd || nearBottom();
  const added = change();
  if (added === false) return;
  if (wasAtEnd || follow) scrollToEnd();
  else jumpButton.hidden = false;
}

jumpButton.addEventListener("click", () => {
  scrollToEnd();
  markRead();
  timeline.focus({ preventScroll: true });
});
timeline.addEventListener("scroll", () => {
  stickToEnd = nearBottom();
  if (stickToEnd) hideJump();
});
// The header or the composer changed height (buttons wrap, a hint shows): stay at the end.
new ResizeObserver(() => {
  if (stickToEnd) timeline.scrollTop = timeline.scrollHeight;
}).observe(timeline);

function placeMessage(message) {
  if (!state.current || message.conversation_id !== state.current.id) return false;
  if (state.seen.has(message.seq)) return false;
  state.seen.add(message.seq);
  state.lastSeq = Math.max(state.lastSeq, message.seq);
  if (message.delivery_status === "failed") state.failures.set(message.seq, message);
  insertInOrder(messageNode(message));
  return true;
}

function appendMessage(message, { follow = false } = {}) {
  addToTimeline(() => placeMessage(message), { follow });
}

/** "<text> by <agent>" when an agent did it, else the text alone. */
function byWhom(text, event) {
  return event.actor?.name ? format(gettext("%(what)s by %(agent)s"), { what: text, agent: event.actor.name }) : text;
}

function agentName(ref) {
  return ref ? ref.name || format(gettext("agent #%(id)s"), { id: ref.id }) : "";
}

/** The words of one timeline line. */
function eventText(event) {
  const data = event.data || {};
  const owned = slaEventText(event); // pending and SLA lines (sla.js)
  if (owned) return owned;
  switch (event.kind) {
    case "assigned": {
      const assignee = agentName(data.assignee);
      if (data.reason === "first_reply") return format(gettext("Assigned to %(agent)s (first reply)"), { agent: assignee });
      if (!event.actor) return format(gettext("Assigned to %(agent)s (automatic routing)"), { agent: assignee });
      const assigned = format(gettext("Assigned to %(agent)s"), { agent: assignee });
      return event.actor.id === data.assignee?.id ? assigned : byWhom(assigned, event);
    }
    case "unassigned":
      return event.actor ? byWhom(gettext("Unassigned"), event) : gettext("Unassigned (back to the queue)");
    case "transferred": {
      const to = [agentName(data.to_agent), data.to_team?.name].filter(Boolean).join(" · ");
      return byWhom(to ? format(gettext("Transferred to %(to)s"), { to }) : gettext("Transferred to the queue"), event);
    }
    case "priority_changed":
      return byWhom(format(gettext("Priority %(from)s → %(to)s"), { from: valueLabel(data.from), to: valueLabel(data.to) }), event);
    case "snoozed":
      return byWhom(format(gettext("Snoozed until %(when)s"), { when: dateTime(data.until) }), event);
    case "woke":
      if (data.reason === "agent") return byWhom(gettext("Unsnoozed"), event);
      if (data.reason === "message") return gettext("Woke up: the customer wrote");
      return gettext("Woke up: the snooze time came");
    case "resolved":
      return data.by_bot ? gettext("Resolved by the bot") : byWhom(gettext("Resolved"), event);
    case "reopened":
      return byWhom(gettext("Reopened"), event);
    default:
      return event.kind;
  }
}

function eventNode(event) {
  return el("div", { class: `event-line event-${event.kind}`, dataset: { eventId: String(event.id), afterSeq: String(event.after_seq || 0), kind: event.kind } }, [
    el("span", { class: "event-text", text: eventText(event) }),
    el("time", { datetime: event.created_at, text: dateTime(event.created_at), title: event.created_at }),
  ]);
}

function placeEvent(event) {
  if (!state.current || event.conversation_id !== state.current.id) return false;
  if (state.eventIds.has(event.id)) return false;
  state.eventIds.add(event.id);
  insertInOrder(eventNode(event));
  return true;
}

/** The agent reads this conversation: its row's unread count goes (the server keeps the marker). */
function markListRead(id) {
  const row = state.conversations.get(id);
  if (row && row.unread_count) {
    row.unread_count = 0;
    refreshListItem(id);
    updateTitle(state.conversations.values());
  }
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

/** "Russian (русский) · from their email", in the agent's words. */
function languageText(info) {
  const source = {
    browser: gettext("from their browser"),
    email: gettext("from their email"),
    website: gettext("from the website"),
    agent: gettext("set by an agent"),
  }[info.source];
  const name = info.name === info.name_local ? info.name : `${info.name} (${info.name_local})`;
  return source ? `${name} · ${source}` : name;
}

/** The language to write to the current customer in: theirs, else their inbox's default. */
function customerLanguage() {
  return state.contact?.locale || state.current?.inbox?.language || "";
}

function renderContact(contact) {
  clear(contactPane);
  if (!contact) {
    contactPane.append(el("p", { class: "muted", text: gettext("Contact details are unavailable.") }));
    return;
  }
  contactPane.append(el("h2", { class: "contact-name", text: contactLabel(contact) }));
  if (contact.at_risk) {
    contactPane.append(
      el("div", { class: "at-risk", role: "note" }, [
        gettext("At risk"),
        contact.at_risk_until ? el("span", { class: "muted", text: ` ${format(gettext("until %(when)s"), { when: dateTime(contact.at_risk_until) })}` }) : null,
      ]),
    );
  }
  const details = el("dl", { class: "kv" });
  for (const [label, value] of [
    [gettext("Email"), contact.email],
    [gettext("Phone"), contact.phone],
    [gettext("External id"), contact.external_id],
    [gettext("Language"), contact.language ? languageText(contact.language) : ""],
    [gettext("Time zone"), contact.time_zone],
    [gettext("Since"), dateOnly(contact.created_at)],
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
          ? el("span", { class: "verified", text: "✓", title: gettext("verified"), "aria-label": gettext("verified") })
          : el("span", { class: "unverified", text: gettext("unverified") }),
      ]),
    );
  }
  if (!contact.identities?.length) identities.append(el("li", { class: "muted", text: gettext("None yet.") }));
  contactPane.append(section(gettext("Identities"), [identities]));
  contactPane.append(contactLabelsSection(contact));

  const saved = (updated) => {
    if (state.current && state.current.contact?.id === updated.id) {
      state.current.contact = { ...state.current.contact, name: updated.name, email: updated.email, phone: updated.phone };
      renderHeader();
      reloadListSoon();
    }
    if (state.contact && state.contact.id === updated.id) {
      state.contact = { ...state.contact, ...updated };
      renderContact(state.contact);
    }
  };
  contactPane.append(attributesSection(contact, section, saved), notesSection(contact, section));

  const conversations = el("ul", { class: "plain-list" });
  for (const other of contact.conversations || []) {
    const current = state.current && other.id === state.current.id;
    conversations.append(
      el("li", {}, [
        statusBadge(other.status),
        current
          ? el("span", { text: format(gettext("%(when)s (this one)"), { when: dateTime(other.opened_at) }) })
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
  contactPane.append(section(gettext("Conversations"), [conversations]));

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
  if (!contact.survey_history?.length) surveys.append(el("li", { class: "muted", text: gettext("No survey answers yet.") }));
  contactPane.append(section(gettext("Satisfaction"), [surveys]));

  if (state.failures.size) {
    const problems = el("ul", { class: "plain-list delivery-problems" });
    for (const message of [...state.failures.values()].sort((a, b) => b.seq - a.seq)) {
      problems.append(
        el("li", {}, [
          channelBadge(message.channel),
          el("span", { class: "muted", text: dateTime(message.created_at) }),
          el("span", { class: "reason", text: message.delivery_error || gettext("no reason was given") }),
        ]),
      );
    }
    contactPane.append(section(gettext("Delivery problems"), [problems]));
  }
}

// ------------------------------------------------------------------ reply box
noteToggle.addEventListener("change", () => {
  composer.classList.toggle("note-mode", noteToggle.checked);
  replyBox.placeholder = noteToggle.checked ? gettext("Write an internal note (never shown to the customer)…") : gettext("Write a reply…");
  $("send-reply").textContent = noteToggle.checked ? gettext("Add note") : gettext("Send");
  updateComposer();
});

const replyCount = $("reply-count");
const replyHint = $("reply-hint");
/** Characters as the server counts them (code points: an emoji is one, not two). */
const characters = (text) => Array.from(text).length;

/** The counter near the limit, the reason a reply cannot go, and the reply channel's state. */
function updateComposer() {
  const length = characters(replyBox.value.trim());
  const over = length - BODY_MAX;
  replyCount.hidden = length < BODY_MAX * COUNTER_FROM;
  replyCount.classList.toggle("over", over > 0);
  replyCount.textContent =
    over > 0
      ? format(gettext("%(over)s over the limit (%(length)s / %(limit)s)"), { over: number(over), length: number(length), limit: number(BODY_MAX) })
      : `${number(length)} / ${number(BODY_MAX)}`;
  if (over > 0) replyBox.setAttribute("aria-invalid", "true");
  else replyBox.removeAttribute("aria-invalid");
  replyChannel.disabled = noteToggle.checked || Boolean(state.noReplyChannel);
  let hint = state.sendError || "";
  if (!hint && state.noReplyChannel && !noteToggle.checked) hint = gettext("No channel can reach this customer; you can still add an internal note.");
  replyHint.textContent = hint;
  replyHint.classList.toggle("error", Boolean(hint));
}

function refuseToSend(reason) {
  state.sendError = reason;
  updateComposer();
}

composer.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!state.current) return;
  const body = replyBox.value.trim();
  if (!body && !composerFiles.count) return;
  if (characters(body) > BODY_MAX) {
    refuseToSend(format(gettext("Too long to send: at most %(limit)s characters. Shorten it or split it in two."), { limit: number(BODY_MAX) }));
    return;
  }
  if (!noteToggle.checked && state.noReplyChannel) {
    refuseToSend(gettext("No channel can reach this customer; you can still add an internal note."));
    return;
  }
  const payload = { body, is_note: noteToggle.checked, client_msg_id: uuid() };
  if (!noteToggle.checked) payload.channel = replyChannel.value;
  const button = $("send-reply");
  button.disabled = true;
  try {
    const url = `/api/v1/conversations/${state.current.id}/messages/`;
    const message = composerFiles.count ? await composerFiles.send(url, payload) : await api(url, { method: "POST", body: payload });
    replyBox.value = "";
    state.sendError = "";
    updateComposer();
    appendMessage(message, { follow: true });
    sendTyping(false);
  } catch (error) {
    refuseToSend(format(gettext("Not sent: %(reason)s"), { reason: error.message }));
    if (error.code === "channel_unavailable") refreshCurrent();
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
  if (isSendKey(event)) {
    event.preventDefault();
    composer.requestSubmit();
  }
});

replyBox.addEventListener("input", () => {
  state.sendError = "";
  updateComposer();
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
        [el("span", { class: "shortcut", text: `/${item.shortcut}` }), el("span", { class: "preview", text: (item.texts && item.texts[customerLanguage()]) || item.body })],
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
  // One text per language: the customer's when the response has it (canned responses' `texts`).
  const text = (item.texts && item.texts[customerLanguage()]) || item.body;
  replyBox.value = before + text + after;
  const position = before.length + text.length;
  replyBox.setSelectionRange(position, position);
  hideCanned();
  replyBox.focus();
}

// ------------------------------------------------------------------ actions
async function act(path, body, done) {
  if (!state.current) return;
  try {
    const conversation = await api(`/api/v1/conversations/${state.current.id}/${path}/`, { method: "POST", body: body || {} });
    if (!state.current || state.current.id !== conversation.id) return conversation;
    state.current = conversation;
    state.conversations.set(conversation.id, conversation);
    renderHeader();
    renderReplyChannels();
    refreshListItem(conversation.id);
    if (done) done(conversation);
    reloadListSoon();
    return conversation;
  } catch (error) {
    toast(error.message, { error: true });
    throw error;
  }
}

const ignore = () => {}; // act() has shown the error already
$("act-assign-me").addEventListener("click", () => act("assign", { assignee: ME }, () => toast(gettext("Assigned to you."))).catch(ignore));
$("act-resolve").addEventListener("click", () => act("resolve", null, () => toast(gettext("Resolved."))).catch(ignore));
$("act-reopen").addEventListener("click", () => act("reopen", null, () => toast(gettext("Reopened."))).catch(ignore));
$("act-unsnooze").addEventListener("click", () => act("unsnooze", null, () => toast(gettext("Open again."))).catch(ignore));
$("act-pending").addEventListener("click", () => act("pending", null, () => toast(gettext("Waiting on the customer."))).catch(ignore));

const transferDialog = $("transfer-dialog");
const transferAgent = $("transfer-agent");
const AVAILABILITY_ORDER = { online: 0, busy: 1, offline: 2 };

/** The agents who can take this conversation, with their availability and load, best first. */
async function loadTransferCandidates() {
  const conversation = state.current;
  transferAgent.disabled = true;
  $("transfer-agent-status").textContent = gettext("Loading agents…");
  let agents;
  try {
    agents = await api("/api/v1/agents/", { params: { inbox: conversation.inbox.id } });
  } catch (error) {
    $("transfer-agent-status").textContent = format(gettext("Could not load the agents: %(error)s"), { error: error.message });
    return;
  }
  agents = agents.results || agents;
  const load = (agent) => (agent.capacity ? (agent.open_conversations || 0) / agent.capacity : 1);
  agents.sort(
    (a, b) => (AVAILABILITY_ORDER[a.availability] ?? 3) - (AVAILABILITY_ORDER[b.availability] ?? 3) || load(a) - load(b) || a.display_name.localeCompare(b.display_name),
  );
  const chosen = transferAgent.value;
  for (const option of Array.from(transferAgent.options).slice(1)) option.remove();
  for (const agent of agents) {
    const open = agent.open_conversations || 0;
    const full = open >= agent.capacity;
    transferAgent.append(
      el("option", {
        value: String(agent.id),
        dataset: { availability: agent.availability },
        class: `availability-${agent.availability}${full ? " full" : ""}`,
        text: format(full ? gettext("%(name)s — %(availability)s · %(open)s / %(capacity)s open (full)") : gettext("%(name)s — %(availability)s · %(open)s / %(capacity)s open"), {
          name: agent.display_name,
          availability: valueLabel(agent.availability),
          open: number(open),
          capacity: number(agent.capacity),
        }),
      }),
    );
  }
  transferAgent.value = agents.some((agent) => String(agent.id) === chosen) ? chosen : "";
  // A list box: every candidate's availability and load in view at once.
  transferAgent.size = Math.min(8, agents.length + 1);
  transferAgent.disabled = false;
  $("transfer-agent-status").textContent = agents.length ? "" : gettext("Nobody else can take conversations of this inbox.");
}

$("act-transfer").addEventListener("click", () => {
  $("transfer-error").hidden = true;
  $("transfer-note").value = "";
  transferAgent.value = "";
  transferDialog.showModal();
  loadTransferCandidates();
});
$("transfer-cancel").addEventListener("click", () => transferDialog.close());
$("transfer-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const agent = $("transfer-agent").value;
  const team = $("transfer-team").value;
  if (!agent && !team) {
    $("transfer-error").textContent = gettext("Pick an agent, a team, or both.");
    $("transfer-error").hidden = false;
    return;
  }
  try {
    await act("transfer", { agent: agent ? Number(agent) : null, team: team ? Number(team) : null, note: $("transfer-note").value });
    transferDialog.close();
    toast(gettext("Transferred."));
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

/** The moment of a preset, in the agent's own time zone. */
function snoozePreset(name) {
  const now = new Date();
  if (name === "hour") return new Date(now.getTime() + 3600 * 1000);
  const at = new Date(now);
  at.setHours(9, 0, 0, 0);
  if (name === "tomorrow") at.setDate(at.getDate() + 1);
  else if (name === "next-week") at.setDate(at.getDate() + (((8 - at.getDay()) % 7) || 7)); // next Monday
  return at;
}

async function snoozeUntil(until) {
  $("snooze-error").hidden = true;
  try {
    await act("snooze", { until: until.toISOString() });
    snoozeDialog.close();
    toast(format(gettext("Snoozed until %(when)s."), { when: dateTime(until.toISOString()) }));
  } catch (error) {
    $("snooze-error").textContent = error.message;
    $("snooze-error").hidden = false;
  }
}

$("act-snooze").addEventListener("click", () => {
  $("snooze-error").hidden = true;
  $("snooze-until").value = localInputValue(snoozePreset("tomorrow"));
  $("snooze-until").min = localInputValue(new Date());
  snoozeDialog.showModal();
});
$("snooze-cancel").addEventListener("click", () => snoozeDialog.close());
for (const button of snoozeDialog.querySelectorAll("[data-snooze]")) {
  // One click snoozes: the preset is the choice.
  button.addEventListener("click", () => snoozeUntil(snoozePreset(button.dataset.snooze)));
}
$("snooze-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const until = new Date($("snooze-until").value);
  if (Number.isNaN(until.getTime())) {
    $("snooze-error").textContent = gettext("Pick a date and a time.");
    $("snooze-error").hidden = false;
    return;
  }
  snoozeUntil(until);
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
    case "conversation.event":
      if (frame.event) addToTimeline(() => placeEvent(frame.event));
      if (frame.event) alertSla(frame.event, { me: ME, supervisor: IS_SUPERVISOR, open: openConversation });
      break;
    case "ready":
      if (frame.user) syncAvailability(frame.user.availability);
      break;
    case "typing":
      onTyping(frame);
      break;
    case "mention":
      onMention(frame.mention);
      break;
    case "read":
      // This agent read it in another tab: its row is read here too.
      if (frame.reader && frame.reader.id === ME) {
        state.unread.delete(frame.conversation_id);
        markListRead(frame.conversation_id);
      }
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
    refreshPrediction(id, { later: true });
    if (fromCustomer) {
      clear($("typing-line"));
      if (!document.hidden) markRead();
    }
  }
  const known = state.conversations.get(id);
  if (known) {
    const reading = Boolean(state.current && state.current.id === id && !document.hidden);
    known.last_activity_at = message.created_at;
    if (fromCustomer) known.last_customer_channel = message.channel;
    if (!(state.current && state.current.id === id) && !message.is_note) state.unread.add(id);
    applyMessage(known, message, { reading });
    if (readSort() === "newest") bumpToTop(id);
    else renderList();
  } else {
    reloadListSoon();
  }
  // Alert for new conversations, the queue and one's own; not for a colleague's cases.
  const mineOrQueued = !known || !known.assignee || known.assignee.id === ME || isFollowing(known);
  if (fromCustomer && mineOrQueued) alertNewMessage(message);
}

function alertNewMessage(message) {
  beep();
  const watching = state.current && state.current.id === message.conversation_id && !document.hidden;
  if (!watching) {
    const sender = message.sender?.name || gettext("a customer");
    notify(format(gettext("New message from %(sender)s"), { sender }), message.body || "", () => openConversation(message.conversation_id));
  }
}

/** Is this conversation one of the person's shown in the contact panel? */
function personHas(conversationId) {
  if (state.current && state.current.id === conversationId) return true;
  return Boolean(state.contact?.conversations?.some((other) => other.id === conversationId));
}

async function refreshContact() {
  if (!state.current) return;
  const id = state.current.id;
  const contact = await api(`/api/v1/contacts/${state.current.contact.id}/`).catch(() => null);
  if (!contact || !state.current || state.current.id !== id) return;
  state.contact = contact;
  renderContact(contact);
}

async function onSurveyAnswered(frame) {
  if (!state.current) return;
  if (!frame.response || !frame.conversation_id) {
    // Only the invitation came: read the person's survey history again.
    const id = state.current.id;
    await refreshContact();
    if (!state.current || state.current.id !== id) return;
    addToTimeline(() => {
      for (const node of timeline.querySelectorAll(":scope > .survey-inline")) node.remove();
      renderSurveysFor(id, timeline);
    });
    return;
  }
  if (!personHas(frame.conversation_id)) return;
  // The contact panel's satisfaction history, with the new answer (names and all: read it again).
  refreshContact();
  if (frame.conversation_id !== state.current.id) return;
  const answer = { ...frame.response, status: "answered", conversation_id: frame.conversation_id };
  const existing = timeline.querySelector(`:scope > .survey-inline[data-invitation="${frame.invitation}"]`);
  const node = surveyNode(answer);
  node.dataset.invitation = String(frame.invitation);
  addToTimeline(() => {
    if (existing) existing.replaceWith(node);
    else timeline.append(node);
  });
}

function onMessageUpdated(message) {
  if (!state.current || message.conversation_id !== state.current.id) return;
  const old = timeline.querySelector(`:scope > .msg[data-seq="${message.seq}"]`);
  if (old) addToTimeline(() => old.replaceWith(messageNode(message)));
  const failedBefore = state.failures.has(message.seq);
  if (message.delivery_status === "failed") state.failures.set(message.seq, message);
  else state.failures.delete(message.seq);
  if (failedBefore || message.delivery_status === "failed") {
    renderContact(state.contact);
    // A failure may change where a reply can go (a STOP seen by the provider): ask again.
    if (message.delivery_status === "failed") refreshCurrent();
  }
}

function syncAvailability(availability) {
  const select = document.getElementById("availability-switch");
  if (!select || !availability) return;
  select.value = availability;
  select.closest(".availability").dataset.current = availability;
}

/** Read the open conversation again: its state, its header and where a reply can go. */
function refreshCurrent() {
  if (!state.current) return;
  const id = state.current.id;
  api(`/api/v1/conversations/${id}/`)
    .then((conversation) => {
      if (state.current && state.current.id === id) {
        state.current = conversation;
        renderHeader();
        renderReplyChannels();
      }
    })
    .catch(() => {});
}

function onConversationUpdated(update) {
  if (state.current && state.current.id === update.id) refreshCurrent();
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
    // After a reconnect: whatever changed in the list meanwhile, and the open timeline's events
    // (its messages catch up through ?resume=).
    reloadListSoon();
    if (state.connectedBefore) {
      catchUpEvents();
      refreshCurrent();
    }
    state.connectedBefore = true;
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
    el("span", { text: gettext("Get a desktop notification when a customer writes?") }),
    el("button", {
      type: "button",
      class: "btn btn-small",
      text: gettext("Turn on"),
      onclick: async () => {
        await askNotificationPermission();
        bar.remove();
      },
    }),
    el("button", {
      type: "button",
      class: "btn btn-small btn-quiet",
      text: gettext("Not now"),
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
restoreSort(loadList);
loadList();
loadLabels().then(() => {
  renderLabelFilter(state.savedLabels);
  applyFilterUi();
});
loadDefinitions().then(() => {
  renderAttributeFilter(state.savedAttributes, onFiltersChanged);
  if (state.contact) renderContact(state.contact);
});
initKeyboard({ open: (id) => openConversation(id), currentId: () => state.current?.id });
initMentions({ me: ME, open: (id) => openConversation(id) });
initMacros({
  current: () => state.current,
  supervisor: IS_SUPERVISOR,
  done: (updated) => {
    if (state.current && state.current.id === updated.id) {
      state.current = updated;
      renderHeader();
      renderReplyChannels();
    }
    reloadListSoon();
  },
});
initBulk({ me: ME, conversation: (id) => state.conversations.get(id), reload: loadList });
initViews({ current: () => ({ ...readFilters(), sort: readSort() }), apply: applyFilters, supervisor: IS_SUPERVISOR });
if (IS_SUPERVISOR) {
  loadSupervisor();
  setInterval(loadSupervisor, 30000);
}
document.addEventListener("cxhub:availability", () => IS_SUPERVISOR && loadSupervisor());
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) {
    markRead();
    if (state.current) markListRead(state.current.id);
  }
});
setInterval(() => {
  for (const when of list.querySelectorAll(".when")) when.firstChild.textContent = relative(when.title);
  refreshWaiting(list);
}, 60000);
offerNotifications();
live.connect();
if (root.dataset.conversationId) openConversation(Number(root.dataset.conversationId), { push: false });
window.cxhubConsole = { state, openConversation, loadList };
