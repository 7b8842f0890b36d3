// The keyboard: j / k (or ↓ / ↑) move through the list, r replies, n writes a note, e resolves,
// / opens the search, ? shows the help; Esc leaves the reply box. Enter or Ctrl+Enter sends, as the
// agent chooses (GET/PATCH /api/v1/preferences/, kept on the server: the same in every browser).
import { api } from "./api.js";
import { toast } from "./dom.js";
import { gettext } from "./i18n.js";

let sendKey = "ctrl_enter";
let options = null; // {open(id), currentId()}
const $ = (id) => document.getElementById(id);

const typing = (target) =>
  target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));

export async function initKeyboard(given) {
  options = given;
  document.addEventListener("keydown", onKey);
  $("keys-close").addEventListener("click", () => $("keys-dialog").close());
  $("keys-open").addEventListener("click", () => $("keys-dialog").showModal());
  for (const select of document.querySelectorAll("[data-send-key]")) {
    select.addEventListener("change", () => chooseSendKey(select.value));
  }
  const preferences = await api("/api/v1/preferences/").catch(() => null);
  if (preferences) showSendKey(preferences.send_key);
}

function showSendKey(value) {
  sendKey = value;
  for (const select of document.querySelectorAll("[data-send-key]")) select.value = value;
}

async function chooseSendKey(value) {
  showSendKey(value);
  try {
    await api("/api/v1/preferences/", { method: "PATCH", body: { send_key: value } });
    toast(value === "enter" ? gettext("Enter sends; Shift+Enter starts a new line.") : gettext("Ctrl+Enter sends; Enter starts a new line."));
  } catch (error) {
    toast(error.message, { error: true });
  }
}

/** Does this keydown in the reply box send? (Enter: per the agent's choice; Ctrl+Enter always.) */
export function isSendKey(event) {
  if (event.key !== "Enter" || event.isComposing) return false;
  if (event.ctrlKey || event.metaKey) return true;
  return sendKey === "enter" && !event.shiftKey && !event.altKey;
}

function move(step) {
  const items = Array.from(document.querySelectorAll("#conv-list .conv-item"));
  if (!items.length) return;
  const current = items.findIndex((item) => Number(item.dataset.id) === options.currentId());
  const next = current < 0 ? (step > 0 ? 0 : items.length - 1) : Math.min(items.length - 1, Math.max(0, current + step));
  items[next].focus();
  options.open(Number(items[next].dataset.id));
}

function write(note) {
  const box = $("reply");
  if (!box || box.closest("[hidden]")) return;
  const toggle = $("note-toggle");
  if (toggle.checked !== note) toggle.click();
  box.focus();
}

function click(id) {
  const button = $(id);
  if (button && !button.hidden && !button.closest("[hidden]")) button.click();
}

function onKey(event) {
  if (event.key === "Escape" && event.target === $("reply")) {
    event.target.blur();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target) || document.querySelector("dialog[open]")) return;
  const actions = {
    j: () => move(1),
    ArrowDown: () => move(1),
    k: () => move(-1),
    ArrowUp: () => move(-1),
    r: () => write(false),
    n: () => write(true),
    e: () => click("act-resolve"),
    "/": () => $("search").focus(),
    "?": () => $("keys-dialog").showModal(),
  };
  const action = actions[event.key];
  if (!action) return;
  event.preventDefault();
  action();
}
