// Filter chips, shared by the console's list and the dashboard: each filter is a
// <details data-filter="channel"> whose <summary> reads "Channel" or, once values are ticked in
// its menu of checkboxes, "Channel: Email" ("Channel: 3 selected" beyond two). Styles: .filters in
// console.css. Importing this module also makes every open menu close on Escape and when a click
// lands elsewhere.

import { format, ngettext, number } from "./i18n.js";

const MAX_NAMED = 2;

function baseLabel(details) {
  // The summary's own words as the page rendered them (in the agent's language), kept once.
  if (!details.dataset.label) details.dataset.label = details.querySelector("summary").textContent.trim();
  return details.dataset.label;
}

/** Rewrite every chip's summary (under `root`) from its ticked checkboxes. */
export function applyFilterUi(root = document) {
  for (const details of root.querySelectorAll("details[data-filter]")) {
    const checked = Array.from(details.querySelectorAll("input:checked"), (i) => i.parentElement.textContent.trim());
    const summary = details.querySelector("summary");
    const base = baseLabel(details);
    const selected = format(ngettext("%(count)s selected", "%(count)s selected", checked.length), { count: number(checked.length) });
    summary.textContent = checked.length ? `${base}: ${checked.length > MAX_NAMED ? selected : checked.join(", ")}` : base;
    summary.classList.toggle("active", checked.length > 0);
  }
}

// A filter menu closes on Escape and when a click lands outside it.
document.addEventListener("click", (event) => {
  for (const details of document.querySelectorAll("details[data-filter][open]")) {
    if (!details.contains(event.target)) details.open = false;
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || !(event.target instanceof Element)) return;
  const details = event.target.closest("details[data-filter]");
  if (details && details.open) {
    details.open = false;
    details.querySelector("summary").focus();
  }
});
