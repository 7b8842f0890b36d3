// Mentions and participants: `@username` in an internal note tells that agent at once (a `mention`
// frame on their console socket, wherever they are: the "@" badge in the list's head and a desktop
// notification); the mention picker beside "Internal note" inserts a colleague's @username.
// "Follow" makes the agent a participant: the conversation's customer messages alert them too.
import { beep, notify } from "./alerts.js";
import { api } from "./api.js";
import { clear, el, relative, toast } from "./dom.js";
import { format, gettext, number } from "./i18n.js";

let mentions = [];
let options = null; // {open(id), me}
const $ = (id) => document.getElementById(id);

export async function initMentions(given) {
  options = given;
  const button = $("mentions-button");
  if (!button) return;
  button.addEventListener("click", () => {
    const panel = $("mentions-panel");
    panel.hidden = !panel.hidden;
    button.setAttribute("aria-expanded", String(!panel.hidden));
  });
  $("mention-picker").addEventListener("change", (event) => {
    const username = event.target.value;
    event.target.value = "";
    if (username) insertMention(username);
  });
  mentions = await api("/api/v1/mentions/").catch(() => []);
  render();
  fillPicker();
}

async function fillPicker() {
  const answer = await api("/api/v1/agents/").catch(() => ({ results: [] }));
  const picker = clear($("mention-picker"));
  picker.append(el("option", { value: "", text: gettext("Mention…") }));
  for (const agent of answer.results || answer) {
    if (agent.id !== options.me) picker.append(el("option", { value: agent.username, text: `${agent.display_name} (@${agent.username})` }));
  }
}

function insertMention(username) {
  const box = $("reply");
  const note = $("note-toggle");
  if (!note.checked) note.click(); // mentions live in internal notes
  const at = box.selectionStart ?? box.value.length;
  const before = box.value.slice(0, at);
  const text = `${before && !/\s$/.test(before) ? " " : ""}@${username} `;
  box.setRangeText(text, at, box.selectionEnd ?? at, "end");
  box.dispatchEvent(new Event("input"));
  box.focus();
}

function unread() {
  return mentions.filter((mention) => !mention.read_at);
}

function render() {
  const count = unread().length;
  const badge = $("mentions-count");
  badge.textContent = count ? number(count) : "";
  badge.hidden = !count;
  $("mentions-button").setAttribute("aria-label", format(gettext("Mentions: %(count)s unread"), { count: number(count) }));
  const list = clear($("mentions-list"));
  if (!mentions.length) list.append(el("li", { class: "muted", text: gettext("Nobody has mentioned you yet.") }));
  for (const mention of mentions.slice(0, 30)) {
    list.append(
      el("li", { class: mention.read_at ? "" : "unread" }, [
        el("button", { type: "button", class: "mention-item", onclick: () => openMention(mention) }, [
          el("strong", { text: format(gettext("%(by)s on %(contact)s"), { by: mention.by, contact: mention.contact }) }),
          el("span", { class: "muted", text: ` · ${relative(mention.created_at)}` }),
          el("span", { class: "mention-excerpt", text: mention.excerpt }),
        ]),
      ]),
    );
  }
}

function openMention(mention) {
  $("mentions-panel").hidden = true;
  options.open(mention.conversation_id);
}

/** A `mention` frame: count it, and tell the agent (sound and desktop notification). */
export function onMention(mention) {
  if (!mention || mentions.some((known) => known.id === mention.id)) return;
  mentions.unshift(mention);
  render();
  beep();
  notify(format(gettext("%(by)s mentioned you"), { by: mention.by }), mention.excerpt, () => options.open(mention.conversation_id));
}

/** The agent opened a conversation: its mentions are read. */
export async function readMentionsOf(conversationId) {
  if (!unread().some((mention) => mention.conversation_id === conversationId)) return;
  await api("/api/v1/mentions/read-all/", { method: "POST", body: { conversation: conversationId } }).catch(() => null);
  const now = new Date().toISOString();
  for (const mention of mentions) if (mention.conversation_id === conversationId && !mention.read_at) mention.read_at = now;
  render();
}

export function isFollowing(conversation) {
  return Boolean(conversation?.participants?.includes(options?.me));
}

/** The Follow / Unfollow button of the open conversation. */
export function renderFollow(conversation, done) {
  const button = $("act-follow");
  if (!button) return;
  const following = isFollowing(conversation);
  button.textContent = following ? gettext("Unfollow") : gettext("Follow");
  button.setAttribute("aria-pressed", String(following));
  button.onclick = async () => {
    try {
      done(await api(`/api/v1/conversations/${conversation.id}/${following ? "unfollow" : "follow"}/`, { method: "POST" }));
      toast(following ? gettext("You no longer follow this conversation.") : gettext("You follow this conversation."));
    } catch (error) {
      toast(error.message, { error: true });
    }
  };
}
