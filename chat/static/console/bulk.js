// Bulk actions: a checkbox on each row of the list, and a bar over the list once some are ticked:
// assign (to me or a colleague), label, snooze for an hour, resolve. One request
// (POST /api/v1/conversations/bulk/); each conversation goes through its own service on the
// server, and the ones that failed are listed with the reason (and stay ticked).
import { api } from "./api.js";
import { allLabels } from "./labels.js";
import { clear, contactLabel, el, toast } from "./dom.js";
import { format, gettext, ngettext, number } from "./i18n.js";

const selected = new Set();
let options = null; // {conversation(id) → row, reload()}
let agents = null;

const $ = (id) => document.getElementById(id);

export function initBulk(given) {
  options = given;
  $("bulk-clear").addEventListener("click", () => {
    selected.clear();
    for (const box of document.querySelectorAll(".bulk-pick")) box.checked = false;
    render();
  });
  $("bulk-assign-me").addEventListener("click", () => run({ action: "assign", assignee: options.me }));
  $("bulk-assign").addEventListener("change", (event) => {
    const value = event.target.value;
    event.target.value = "";
    if (value) run({ action: "assign", assignee: value === "none" ? null : Number(value) });
  });
  $("bulk-label").addEventListener("change", (event) => {
    const value = Number(event.target.value);
    event.target.value = "";
    if (value) run({ action: "label", add: [value] });
  });
  $("bulk-snooze").addEventListener("click", () => run({ action: "snooze", until: new Date(Date.now() + 3600 * 1000).toISOString() }));
  $("bulk-resolve").addEventListener("click", () => run({ action: "resolve" }));
  $("bulk-all").addEventListener("change", (event) => {
    for (const box of document.querySelectorAll(".bulk-pick")) {
      box.checked = event.target.checked;
      const id = Number(box.dataset.id);
      if (box.checked) selected.add(id);
      else selected.delete(id);
    }
    render();
  });
}

/** The checkbox in front of a row of the list. */
export function rowCheckbox(conversation) {
  const box = el("input", {
    type: "checkbox",
    class: "bulk-pick",
    dataset: { id: String(conversation.id) },
    "aria-label": format(gettext("Select the conversation with %(name)s"), { name: contactLabel(conversation.contact) }),
  });
  box.checked = selected.has(conversation.id);
  box.addEventListener("change", () => {
    if (box.checked) selected.add(conversation.id);
    else selected.delete(conversation.id);
    render();
  });
  return box;
}

/** The list was read again: forget what is no longer in it. */
export function keepOnly(ids) {
  const present = new Set(ids);
  for (const id of [...selected]) if (!present.has(id)) selected.delete(id);
  render();
}

async function fillChoices() {
  if (agents === null) {
    const answer = await api("/api/v1/agents/").catch(() => ({ results: [] }));
    agents = answer.results || answer;
  }
  const assign = clear($("bulk-assign"));
  assign.append(el("option", { value: "", text: gettext("Assign to…") }), el("option", { value: "none", text: gettext("Nobody (unassign)") }));
  for (const agent of agents) assign.append(el("option", { value: String(agent.id), text: agent.display_name }));
  const label = clear($("bulk-label"));
  label.append(el("option", { value: "", text: gettext("Add label…") }));
  for (const item of allLabels()) label.append(el("option", { value: String(item.id), text: item.name }));
}

function render() {
  const bar = $("bulk-bar");
  if (!bar) return;
  const count = selected.size;
  const wasHidden = bar.hidden;
  bar.hidden = count === 0;
  $("bulk-count").textContent = format(ngettext("%(count)s selected", "%(count)s selected", count), { count: number(count) });
  $("bulk-all").checked = count > 0 && count === document.querySelectorAll(".bulk-pick").length;
  if (count && wasHidden) fillChoices();
  if (!count) clear($("bulk-failures"));
}

async function run(body) {
  const ids = [...selected];
  if (!ids.length) return;
  const failures = clear($("bulk-failures"));
  let answer;
  try {
    answer = await api("/api/v1/conversations/bulk/", { method: "POST", body: { ids, ...body } });
  } catch (error) {
    toast(error.message, { error: true });
    return;
  }
  for (const result of answer.results) {
    if (result.ok) {
      selected.delete(result.id);
      continue;
    }
    const row = options.conversation(result.id);
    failures.append(el("li", { text: `${row ? contactLabel(row.contact) : `#${result.id}`}: ${result.detail}` }));
  }
  const text = answer.failed
    ? format(gettext("%(done)s done, %(failed)s failed."), { done: number(answer.done), failed: number(answer.failed) })
    : format(ngettext("%(done)s conversation done.", "%(done)s conversations done.", answer.done), { done: number(answer.done) });
  toast(text, { error: answer.failed > 0 });
  options.reload();
  render();
}
