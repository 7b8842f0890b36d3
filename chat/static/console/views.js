// Saved views: named sets of the list's filters, the agent's own or shared by a supervisor, in the
// list's head with their live counts (GET /api/v1/views/counts/, read again as the list changes).
// Clicking one applies its filters; "Save view…" keeps the current ones (POST /api/v1/views/).
import { api } from "./api.js";
import { clear, el, toast } from "./dom.js";
import { format, gettext, number } from "./i18n.js";

let views = [];
let options = null;
let countTimer = null;

/** `options`: {current() → filters, apply(filters), supervisor}. */
export async function initViews(given) {
  options = given;
  const button = document.getElementById("save-view");
  const dialog = document.getElementById("view-dialog");
  if (!button || !dialog) return;
  button.addEventListener("click", () => {
    document.getElementById("view-error").hidden = true;
    dialog.showModal();
  });
  document.getElementById("view-cancel").addEventListener("click", () => dialog.close());
  document.getElementById("view-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = document.getElementById("view-name").value;
    const shared = Boolean(document.getElementById("view-shared")?.checked);
    try {
      await api("/api/v1/views/", { method: "POST", body: { name, shared, filters: options.current() } });
      dialog.close();
      document.getElementById("view-name").value = "";
      toast(format(gettext("View %(name)s saved."), { name }));
      await loadViews();
    } catch (error) {
      const message = document.getElementById("view-error");
      message.textContent = error.message;
      message.hidden = false;
    }
  });
  await loadViews();
}

export async function loadViews() {
  views = await api("/api/v1/views/").catch(() => views);
  render();
  refreshCounts();
}

function render() {
  const list = document.getElementById("views");
  if (!list) return;
  clear(list);
  for (const view of views) {
    const mayDelete = view.mine || (view.shared && options.supervisor);
    list.append(
      el("li", { dataset: { view: String(view.id) } }, [
        el("button", { type: "button", class: "view-button", onclick: () => options.apply(view.filters) }, [
          el("span", { class: "view-name", text: view.name }),
          view.shared ? el("span", { class: "badge", text: gettext("shared") }) : null,
          el("span", { class: "view-count", "aria-label": gettext("Conversations") }),
        ]),
        mayDelete
          ? el("button", {
              type: "button",
              class: "btn btn-small btn-quiet view-delete",
              text: "×",
              "aria-label": format(gettext("Delete view %(name)s"), { name: view.name }),
              onclick: async () => {
                try {
                  await api(`/api/v1/views/${view.id}/`, { method: "DELETE" });
                  await loadViews();
                } catch (error) {
                  toast(error.message, { error: true });
                }
              },
            })
          : null,
      ]),
    );
  }
}

/** Read the counts again soon (debounced): the list changed. */
export function refreshCounts() {
  clearTimeout(countTimer);
  countTimer = setTimeout(async () => {
    if (!views.length) return;
    const counts = await api("/api/v1/views/counts/").catch(() => []);
    for (const { id, count } of counts) {
      const node = document.querySelector(`#views li[data-view="${id}"] .view-count`);
      if (node) node.textContent = number(count);
    }
  }, 250);
}
