// The list an agent works from: each row's preview, waiting time and unread count (read markers are
// kept per agent on the server: POST …/read and the socket's `read` frame), the sort, and the tab
// title's unread total. app.js calls these hooks; the rows come from GET /api/v1/conversations/.
import { el } from "./dom.js";
import { format, gettext, ngettext, number } from "./i18n.js";

const SORT_STORE = "cxhub.console.sort";
const SORTS = ["newest", "waiting", "priority", "due"];
const baseTitle = document.title;

/** The chosen sort (the <select id="sort"> in the list's head, remembered in this browser). */
export function readSort() {
  const select = document.getElementById("sort");
  return select && SORTS.includes(select.value) ? select.value : "newest";
}

export function restoreSort(onChange) {
  const select = document.getElementById("sort");
  if (!select) return;
  const saved = localStorage.getItem(SORT_STORE);
  if (SORTS.includes(saved)) select.value = saved;
  select.addEventListener("change", () => {
    localStorage.setItem(SORT_STORE, select.value);
    onChange();
  });
}

function waitingText(since) {
  const minutes = Math.max(0, Math.floor((Date.now() - new Date(since).getTime()) / 60000));
  if (minutes < 60) return format(ngettext("waiting %(count)s min", "waiting %(count)s min", minutes), { count: number(minutes) });
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return format(ngettext("waiting %(count)s h", "waiting %(count)s h", hours), { count: number(hours) });
  const days = Math.floor(hours / 24);
  return format(ngettext("waiting %(count)s day", "waiting %(count)s days", days), { count: number(days) });
}

/** The row's waiting badge (refreshed each minute by refreshWaiting). */
export function waitingBadge(conversation) {
  if (!conversation.waiting_since || conversation.status === "resolved") return null;
  return el("span", { class: "badge badge-waiting", dataset: { since: conversation.waiting_since }, text: waitingText(conversation.waiting_since) });
}

export function unreadBadge(conversation) {
  const count = conversation.unread_count || 0;
  if (!count) return null;
  return el("span", {
    class: "unread-count",
    text: number(count),
    title: format(ngettext("%(count)s unread message", "%(count)s unread messages", count), { count: number(count) }),
  });
}

/** The last message, one line: "You: …" for agents' replies. */
export function previewLine(conversation) {
  const last = conversation.last_message;
  if (!last) return null;
  const body = (last.body || "").replace(/\s+/g, " ").trim();
  const text = last.sender_kind === "contact" ? body : format(gettext("Reply: %(text)s"), { text: body });
  return el("span", { class: "preview", text });
}

export function refreshWaiting(list) {
  for (const badge of list.querySelectorAll(".badge-waiting")) badge.textContent = waitingText(badge.dataset.since);
}

/** A message reached the list: its row's preview, waiting time and unread count, as the server would say. */
export function applyMessage(conversation, message, { reading }) {
  if (message.is_note) return;
  const fromCustomer = message.sender?.kind === "contact";
  conversation.last_message = { body: (message.body || "").slice(0, 160), sender_kind: message.sender?.kind, created_at: message.created_at };
  if (fromCustomer) {
    if (!conversation.waiting_since) conversation.waiting_since = message.created_at;
    if (!reading) conversation.unread_count = (conversation.unread_count || 0) + 1;
  } else {
    conversation.waiting_since = null;
  }
}

/** The unread total of the list's rows in the tab title: "(3) Conversations". */
export function updateTitle(conversations) {
  let total = 0;
  for (const conversation of conversations) total += conversation.unread_count || 0;
  document.title = total ? `(${number(total)}) ${baseTitle}` : baseTitle;
  return total;
}
