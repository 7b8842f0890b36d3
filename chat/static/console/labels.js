// Labels (name, colour) on conversations and contacts: the chips in the list and the header, the
// "Labels" menu that adds and removes them (POST …/labels/ {add, remove}), the list's Label filter,
// and, for supervisors, making a new label (POST /api/v1/labels/). Colours go in through the CSSOM.
import { api } from "./api.js";
import { clear, el, toast } from "./dom.js";
import { format, gettext } from "./i18n.js";

let labels = [];

export const allLabels = () => labels;

export async function loadLabels() {
  labels = await api("/api/v1/labels/").catch(() => labels);
  return labels;
}

function chip(label) {
  const node = el("span", { class: "label-chip", text: label.name, dataset: { label: String(label.id) } });
  node.style.setProperty("--label-colour", label.colour);
  return node;
}

/** The chips of a conversation's or a contact's labels (null when none). */
export function labelChips(items) {
  if (!items || !items.length) return null;
  return el("span", { class: "label-chips" }, items.map(chip));
}

/** The list's Label filter: a checkbox per label in <details data-filter="label">, ticked as saved. */
export function renderLabelFilter(saved = []) {
  const menu = document.getElementById("label-filter-menu");
  if (!menu) return;
  const ticked = new Set([...menu.querySelectorAll("input:checked")].map((input) => input.value).concat(saved));
  clear(menu);
  if (!labels.length) menu.append(el("p", { class: "muted", text: gettext("No labels") }));
  for (const label of labels) {
    const input = el("input", { type: "checkbox", name: "label", value: String(label.id) });
    input.checked = ticked.has(String(label.id));
    menu.append(el("label", {}, [input, " ", chip(label)]));
  }
}

/**
 * The "Labels" menu of the open conversation (or contact): ticking adds, unticking removes.
 * `target` is {url, labels}; `done(updated)` gets the server's answer.
 */
export function labelMenu(target, done, { canCreate = false } = {}) {
  const current = new Set((target.labels || []).map((label) => label.id));
  const menu = el("div", { class: "menu", role: "group", "aria-label": gettext("Labels") });
  for (const label of labels) {
    const input = el("input", { type: "checkbox", value: String(label.id) });
    input.checked = current.has(label.id);
    input.addEventListener("change", async () => {
      const body = input.checked ? { add: [label.id] } : { remove: [label.id] };
      try {
        done(await api(target.url, { method: "POST", body }));
      } catch (error) {
        input.checked = !input.checked;
        toast(error.message, { error: true });
      }
    });
    menu.append(el("label", {}, [input, " ", chip(label)]));
  }
  if (!labels.length) menu.append(el("p", { class: "muted", text: gettext("No labels yet.") }));
  if (canCreate) menu.append(newLabelForm(target, done));
  return el("details", { class: "label-menu", dataset: { filter: "labels-of" } }, [
    el("summary", { text: gettext("Labels") }),
    menu,
  ]);
}

function newLabelForm(target, done) {
  const name = el("input", { type: "text", maxlength: "50", placeholder: gettext("New label"), "aria-label": gettext("New label name") });
  const colour = el("input", { type: "color", value: "#2563eb", "aria-label": gettext("Colour") });
  const form = el("form", { class: "new-label" }, [
    name,
    colour,
    el("button", { type: "submit", class: "btn btn-small", text: gettext("Add") }),
  ]);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const label = await api("/api/v1/labels/", { method: "POST", body: { name: name.value, colour: colour.value } });
      await loadLabels();
      renderLabelFilter();
      done(await api(target.url, { method: "POST", body: { add: [label.id] } }));
      toast(format(gettext("Label %(name)s added."), { name: label.name }));
    } catch (error) {
      toast(error.message, { error: true });
    }
  });
  return form;
}
