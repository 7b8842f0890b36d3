// Filter chips, shared by the console's list and the dashboard: each filter is a
// <details data-filter="channel"> whose <summary> reads "Channel" or, once values are ticked in
// its menu of checkboxes, "Channel: Email" ("Channel: 3 selected" beyond two). Styles: .filters in
// console.css. Importing this module also makes every open menu close on Escape and when a click
// lands elsewhere.

const MAX_NAMED = 2;

function baseLabel(details) {
  const key = details.dataset.filter || "";
  return details.dataset.label || key.charAt(0).toUpperCase() + key.slice(1);
}

/** Rewrite every chip's summary (under `root`) from its ticked checkboxes. */
export function applyFilterUi(root = document) {
  for (const details of root.querySelectorAll("details[data-filter]")) {
    const checked = Array.from(details.querySelectorAll("input:checked"), (i) => i.parentElement.textContent.trim());
    const summary = details.querySelector("summary");
    const base = baseLabel(details);
    summary.textContent = checked.length
      ? `${base}: ${checked.length > MAX_NAMED ? `${checked.length} selected` : checked.join(", ")}`
      : base;
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
