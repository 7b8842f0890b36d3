// Contacts in the console: the contact panel's attributes (custom attributes with their labels,
// from GET /api/v1/attributes/), "Edit" for name, email, phone and typed attributes
// (PATCH /api/v1/contacts/{id}/, audited on the server), and notes on the person
// (GET/POST /api/v1/contacts/{id}/notes/).
import { api } from "./api.js";
import { clear, dateTime, el, toast } from "./dom.js";
import { format, gettext } from "./i18n.js";

let definitions = [];
export const loadDefinitions = async () => {
  definitions = await api("/api/v1/attributes/").catch(() => definitions);
  return definitions;
};

function shown(value) {
  if (value === null || value === undefined || value === "") return "—";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** The Attributes section: defined ones by their labels, then the others by key. */
export function attributesSection(contact, section, onSaved) {
  const attributes = contact.attributes || {};
  const list = el("dl", { class: "kv" });
  const defined = new Set();
  for (const definition of definitions) {
    defined.add(definition.key);
    list.append(el("dt", { text: definition.label }), el("dd", { text: shown(attributes[definition.key]), dataset: { attribute: definition.key } }));
  }
  for (const [key, value] of Object.entries(attributes)) {
    if (!defined.has(key)) list.append(el("dt", { text: key }), el("dd", { text: shown(value) }));
  }
  if (!list.childElementCount) list.append(el("dd", { class: "muted", text: gettext("No attributes.") }));
  const edit = el("button", { type: "button", class: "btn btn-small btn-quiet", id: "contact-edit", text: gettext("Edit contact") });
  const holder = section(gettext("Attributes"), [list, edit]);
  edit.addEventListener("click", () => holder.replaceWith(editForm(contact, section, onSaved)));
  return holder;
}

function input(definition, value) {
  const id = `attr-${definition.key}`;
  if (definition.kind === "list") {
    const select = el("select", { id, name: definition.key }, [el("option", { value: "", text: "—" })]);
    for (const option of definition.options) select.append(el("option", { value: option, text: option }));
    select.value = value ?? "";
    return select;
  }
  const type = { number: "number", date: "date" }[definition.kind] || "text";
  const field = el("input", { id, name: definition.key, type, step: type === "number" ? "any" : null });
  field.value = value ?? "";
  return field;
}

function editForm(contact, section, onSaved) {
  const attributes = contact.attributes || {};
  const fields = {
    name: el("input", { id: "contact-name-input", type: "text", maxlength: "200" }),
    email: el("input", { id: "contact-email-input", type: "email", maxlength: "254" }),
    phone: el("input", { id: "contact-phone-input", type: "tel", maxlength: "40" }),
  };
  for (const [key, field] of Object.entries(fields)) field.value = contact[key] || "";
  const typed = definitions.map((definition) => [definition, input(definition, attributes[definition.key])]);
  const error = el("p", { class: "form-error", hidden: true });
  const form = el("form", { class: "contact-edit", id: "contact-edit-form" }, [
    el("label", { for: "contact-name-input", text: gettext("Name") }),
    fields.name,
    el("label", { for: "contact-email-input", text: gettext("Email") }),
    fields.email,
    el("label", { for: "contact-phone-input", text: gettext("Phone") }),
    fields.phone,
    ...typed.flatMap(([definition, field]) => [el("label", { for: field.id, text: definition.label }), field]),
    error,
    el("div", { class: "dialog-actions" }, [
      el("button", { type: "button", class: "btn btn-small", text: gettext("Cancel"), onclick: () => onSaved(contact) }),
      el("button", { type: "submit", class: "btn btn-small btn-primary", text: gettext("Save") }),
    ]),
  ]);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: fields.name.value, email: fields.email.value, phone: fields.phone.value, attributes: {} };
    for (const [definition, field] of typed) body.attributes[definition.key] = field.value === "" ? null : field.value;
    try {
      const updated = await api(`/api/v1/contacts/${contact.id}/`, { method: "PATCH", body });
      toast(gettext("Contact saved."));
      onSaved(updated);
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    }
  });
  return section(gettext("Edit contact"), [form]);
}

/** Notes on the person: newest first, and a box to add one. */
export function notesSection(contact, section) {
  const list = el("ul", { class: "plain-list contact-notes", id: "contact-notes" });
  const box = el("textarea", { id: "contact-note-input", rows: "2", "aria-label": gettext("A note on this contact"), placeholder: gettext("A note on this person…") });
  const form = el("form", { class: "contact-note-form" }, [box, el("button", { type: "submit", class: "btn btn-small", text: gettext("Add note") })]);
  const render = (notes) => {
    clear(list);
    if (!notes.length) list.append(el("li", { class: "muted", text: gettext("No notes yet.") }));
    for (const note of notes) {
      list.append(
        el("li", {}, [
          el("span", { class: "note-body", text: note.body }),
          el("span", { class: "muted small", text: ` — ${note.author ? note.author.name : gettext("someone")}, ${dateTime(note.created_at)}` }),
        ]),
      );
    }
  };
  const load = () => api(`/api/v1/contacts/${contact.id}/notes/`).then(render).catch(() => render([]));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api(`/api/v1/contacts/${contact.id}/notes/`, { method: "POST", body: { body: box.value } });
      box.value = "";
      await load();
    } catch (error) {
      toast(format(gettext("Could not add the note: %(error)s"), { error: error.message }), { error: true });
    }
  });
  load();
  return section(gettext("Notes"), [form, list]);
}

let filterChanged = null;

/**
 * The list's Attribute filter: pick a custom attribute and a value ("Plan: Gold"); each pair is a
 * ticked checkbox `attribute=plan:Gold` like the other filters' (every one must match).
 */
export function renderAttributeFilter(saved = [], onChange = null) {
  if (onChange) filterChanged = onChange;
  const menu = document.getElementById("attribute-filter-menu");
  if (!menu) return;
  const ticked = Array.from(menu.querySelectorAll("input[name=attribute]:checked"), (input) => input.value);
  const values = [...new Set([...ticked, ...saved])];
  clear(menu);
  const labelOf = (pair) => {
    const [key, ...rest] = pair.split(":");
    const definition = definitions.find((item) => item.key === key);
    return `${definition ? definition.label : key}: ${rest.join(":")}`;
  };
  for (const pair of values) {
    const box = el("input", { type: "checkbox", name: "attribute", value: pair });
    box.checked = true;
    menu.append(el("label", {}, [box, ` ${labelOf(pair)}`]));
  }
  if (!definitions.length) {
    menu.append(el("p", { class: "muted", text: gettext("No custom attributes.") }));
    return;
  }
  const which = el("select", { "aria-label": gettext("Attribute") });
  for (const definition of definitions) which.append(el("option", { value: definition.key, text: definition.label }));
  const value = el("input", { type: "text", maxlength: "100", "aria-label": gettext("Value"), placeholder: gettext("Value") });
  const add = el("button", { type: "button", class: "btn btn-small", text: gettext("Add") });
  add.addEventListener("click", () => {
    if (!value.value.trim()) return;
    renderAttributeFilter([`${which.value}:${value.value.trim()}`]);
    if (filterChanged) filterChanged();
  });
  menu.append(el("div", { class: "attribute-filter-add" }, [which, value, add]));
}
