// Full-text search in the console (docs/search.md): the list's search box filters the list as you
// type; Enter searches everything you may see — messages, contacts (name, email, phone,
// attributes) and conversation subjects — and shows the matches marked. Texts go in as text;
// the marks are <mark> elements made here, never markup from the server.
import { api } from "./api.js";
import { channelBadge, clear, contactLabel, dateTime, el, valueLabel } from "./dom.js";
import { format, gettext, number } from "./i18n.js";

const box = document.getElementById("search");
const panel = document.getElementById("search-results");

function marked(pieces) {
  const node = el("span", { class: "hit-text", dir: "auto" });
  for (const [text, isMatch] of pieces || []) node.append(isMatch ? el("mark", { text }) : document.createTextNode(String(text)));
  return node;
}

function section(title, items, render) {
  if (!items.length) return null;
  return el("section", { class: "search-section" }, [
    el("h3", { text: format(title, { count: number(items.length) }) }),
    el("ul", { class: "plain-list search-hits" }, items.map((item) => el("li", {}, [render(item)]))),
  ]);
}

function messageHit(hit) {
  return el("a", { class: "search-hit", href: `/console/c/${hit.conversation_id}/` }, [
    el("span", { class: "hit-meta" }, [
      el("strong", { text: hit.sender?.name || "" }),
      channelBadge(hit.channel),
      hit.is_note ? el("span", { class: "badge badge-note", text: gettext("internal note") }) : null,
      el("time", { datetime: hit.created_at, text: dateTime(hit.created_at) }),
    ]),
    marked(hit.highlight),
  ]);
}

function contactHit(hit) {
  const lines = Object.entries(hit.highlight || {})
    .filter(([, pieces]) => pieces.some(([, isMatch]) => isMatch))
    .map(([, pieces]) => marked(pieces));
  const target = hit.conversation_id ? `/console/c/${hit.conversation_id}/` : null;
  const children = [el("strong", { text: contactLabel(hit) }), ...lines];
  return target ? el("a", { class: "search-hit", href: target }, children) : el("div", { class: "search-hit" }, children);
}

function conversationHit(hit) {
  return el("a", { class: "search-hit", href: `/console/c/${hit.id}/` }, [
    el("span", { class: "hit-meta" }, [el("span", { class: `badge badge-${hit.status}`, text: valueLabel(hit.status) }), el("time", { datetime: hit.last_activity_at, text: dateTime(hit.last_activity_at) })]),
    marked(hit.highlight),
  ]);
}

function close() {
  panel.hidden = true;
  clear(panel);
}

function header(text) {
  return el("div", { class: "search-head" }, [
    el("p", { class: "muted", role: "status", text }),
    el("button", { type: "button", class: "btn btn-small btn-quiet", "aria-label": gettext("Close the search results"), text: "×", onclick: close }),
  ]);
}

/** The one inbox the list is filtered to, if exactly one is: the search keeps to it. */
function chosenInbox() {
  const checked = document.querySelectorAll('#filters input[name="inbox"]:checked');
  return checked.length === 1 ? checked[0].value : undefined;
}

export async function searchEverything(text) {
  if (!panel) return;
  panel.hidden = false;
  clear(panel).append(header(gettext("Searching…")));
  let found;
  try {
    found = await api("/api/v1/search/", { params: { q: text, inbox: chosenInbox() } });
  } catch (error) {
    clear(panel).append(header(""), el("p", { class: "form-error", role: "alert", text: error.message }));
    return;
  }
  const total = found.messages.length + found.contacts.length + found.conversations.length;
  clear(panel).append(
    header(total ? format(gettext("Results for “%(query)s”"), { query: found.query }) : format(gettext("Nothing matches “%(query)s”."), { query: found.query })),
    section(gettext("Messages (%(count)s)"), found.messages, messageHit),
    section(gettext("Contacts (%(count)s)"), found.contacts, contactHit),
    section(gettext("Subjects (%(count)s)"), found.conversations, conversationHit),
  );
}

if (box && panel) {
  box.setAttribute("title", gettext("Type to filter the list; Enter searches every message, contact and subject"));
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      searchEverything(box.value);
    } else if (event.key === "Escape" && !panel.hidden) {
      close();
    }
  });
}
