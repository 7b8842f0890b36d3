// DOM helpers for the console: every piece of text goes in through textContent, never innerHTML.
import { format, gettext, language, pgettext } from "./i18n.js";

export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of [].concat(children)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

export const CHANNEL_LABELS = {
  web: gettext("Web chat"),
  email: gettext("Email"),
  sms: gettext("SMS"),
  api: gettext("API"),
};

export function channelBadge(channel) {
  if (!channel) return null;
  const label = CHANNEL_LABELS[channel] || channel;
  return el("span", { class: `badge badge-${channel}`, text: label, title: format(gettext("Channel: %(channel)s"), { channel: label }) });
}

// The words of the API's values (statuses, priorities, availability) in the agent's language.
export const VALUE_LABELS = {
  open: pgettext("status", "open"),
  pending: pgettext("status", "pending"),
  snoozed: pgettext("status", "snoozed"),
  resolved: pgettext("status", "resolved"),
  low: pgettext("priority", "low"),
  normal: pgettext("priority", "normal"),
  high: pgettext("priority", "high"),
  urgent: pgettext("priority", "urgent"),
  online: pgettext("availability", "online"),
  busy: pgettext("availability", "busy"),
  offline: pgettext("availability", "offline"),
};

export function valueLabel(value) {
  return VALUE_LABELS[value] || value;
}

export function statusBadge(status) {
  return el("span", { class: `badge badge-${status}`, text: valueLabel(status) });
}

export function time(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return date.toLocaleTimeString(language, { hour: "2-digit", minute: "2-digit" });
}

export function dateTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const today = new Date();
  if (date.toDateString() === today.toDateString()) return time(iso);
  return date.toLocaleString(language, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function dateOnly(iso) {
  return iso ? new Date(iso).toLocaleDateString(language) : "";
}

const spans = new Intl.RelativeTimeFormat(language, { style: "narrow", numeric: "auto" });

export function relative(iso) {
  if (!iso) return "";
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return spans.format(0, "second");
  if (seconds < 3600) return spans.format(-Math.floor(seconds / 60), "minute");
  if (seconds < 86400) return spans.format(-Math.floor(seconds / 3600), "hour");
  return spans.format(-Math.floor(seconds / 86400), "day");
}

export function contactLabel(contact) {
  if (!contact) return gettext("Unknown");
  return contact.name || contact.email || contact.phone || format(gettext("Contact #%(id)s"), { id: contact.id });
}

let toastTimer = null;
export function toast(text, { error = false } = {}) {
  let node = document.getElementById("toast");
  if (!node) {
    node = el("div", { id: "toast", class: "toast", role: "status", "aria-live": "polite" });
    document.body.append(node);
  }
  node.textContent = text;
  node.classList.toggle("error", error);
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    node.hidden = true;
  }, 4000);
}

export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
