// Macros: one named click on the open conversation (a canned reply, then labels, a team, a
// priority, a snooze or a resolution: POST /api/v1/macros/{id}/run/), from the "Macros" menu in
// its header; "New macro…" makes one (personal, or shared by a supervisor).
import { api } from "./api.js";
import { allLabels } from "./labels.js";
import { clear, el, toast } from "./dom.js";
import { format, gettext } from "./i18n.js";

let macros = [];
let options = null; // {current() → conversation, done(conversation), supervisor}
const $ = (id) => document.getElementById(id);

export async function initMacros(given) {
  options = given;
  if (!$("macro-menu")) return;
  $("macro-new").addEventListener("click", openDialog);
  $("macro-cancel").addEventListener("click", () => $("macro-dialog").close());
  $("macro-form").addEventListener("submit", save);
  await loadMacros();
}

async function loadMacros() {
  macros = await api("/api/v1/macros/").catch(() => macros);
  render();
}

function render() {
  const list = clear($("macro-list"));
  if (!macros.length) list.append(el("li", { class: "muted", text: gettext("No macros yet.") }));
  for (const macro of macros) {
    const mayDelete = macro.mine || (macro.shared && options.supervisor);
    list.append(
      el("li", { dataset: { macro: String(macro.id) } }, [
        el("button", { type: "button", class: "macro-run", text: macro.name, onclick: () => run(macro) }),
        macro.shared ? el("span", { class: "badge", text: gettext("shared") }) : null,
        mayDelete
          ? el("button", {
              type: "button",
              class: "btn btn-small btn-quiet",
              text: "×",
              "aria-label": format(gettext("Delete macro %(name)s"), { name: macro.name }),
              onclick: () => remove(macro),
            })
          : null,
      ]),
    );
  }
}

async function run(macro) {
  const conversation = options.current();
  if (!conversation) return;
  $("macro-menu").open = false;
  try {
    const updated = await api(`/api/v1/macros/${macro.id}/run/`, { method: "POST", body: { conversation: conversation.id } });
    toast(format(gettext("Macro %(name)s done."), { name: macro.name }));
    options.done(updated);
  } catch (error) {
    toast(format(gettext("Macro %(name)s not run: %(error)s"), { name: macro.name, error: error.message }), { error: true });
  }
}

async function remove(macro) {
  try {
    await api(`/api/v1/macros/${macro.id}/`, { method: "DELETE" });
    await loadMacros();
  } catch (error) {
    toast(error.message, { error: true });
  }
}

function openDialog() {
  $("macro-menu").open = false;
  $("macro-error").hidden = true;
  const labels = clear($("macro-labels"));
  for (const label of allLabels()) {
    labels.append(el("label", {}, [el("input", { type: "checkbox", value: String(label.id) }), ` ${label.name}`]));
  }
  if (!allLabels().length) labels.append(el("span", { class: "muted", text: gettext("No labels yet.") }));
  $("macro-dialog").showModal();
}

async function save(event) {
  event.preventDefault();
  const snooze = $("macro-snooze").value;
  const body = {
    name: $("macro-name").value,
    reply: $("macro-reply").value,
    labels: Array.from($("macro-labels").querySelectorAll("input:checked"), (input) => Number(input.value)),
    team: $("macro-team").value ? Number($("macro-team").value) : null,
    priority: $("macro-priority").value,
    snooze_minutes: snooze ? Number(snooze) : null,
    resolve: $("macro-resolve").checked,
    shared: Boolean($("macro-shared")?.checked),
  };
  try {
    await api("/api/v1/macros/", { method: "POST", body });
    $("macro-dialog").close();
    $("macro-form").reset();
    toast(format(gettext("Macro %(name)s saved."), { name: body.name }));
    await loadMacros();
  } catch (error) {
    $("macro-error").textContent = error.message;
    $("macro-error").hidden = false;
  }
}
