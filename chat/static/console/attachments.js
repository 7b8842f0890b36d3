// Attachments in the console (docs/attachments.md): the files of a message (image previews,
// download links signed for the agent) and the composer's paperclip. The server checks every file
// by its content; a refused one comes back as a 400 whose reason the composer shows.
import { api, ApiError } from "./api.js";
import { clear, el } from "./dom.js";
import { format, gettext, number } from "./i18n.js";

const REJECTED = {
  too_large: gettext("too large"),
  type_not_allowed: gettext("type not accepted"),
  content_mismatch: gettext("content does not match its name"),
  too_many_attachments: gettext("too many files"),
  refused_destination: gettext("its address was refused"),
  not_fetched: gettext("could not be fetched"),
  empty: gettext("empty"),
};

function size(bytes) {
  if (!Number.isFinite(bytes)) return "";
  if (bytes < 1024) return format(gettext("%(n)s B"), { n: number(bytes) });
  if (bytes < 1024 * 1024) return format(gettext("%(n)s KB"), { n: number(Math.round(bytes / 1024)) });
  return format(gettext("%(n)s MB"), { n: number(Math.round((bytes / 1024 / 1024) * 10) / 10) });
}

/** The files of a message: previews for images, a download link each; names are text only. */
export function filesNode(message) {
  const files = message.attachments || [];
  if (!files.length) return null;
  return el(
    "ul",
    { class: "msg-files" },
    files.map((file) => {
      const name = file.name || gettext("attachment");
      if (file.pending) return el("li", { class: "muted", text: format(gettext("%(name)s (arriving…)"), { name }) });
      if (!file.url) {
        const reason = REJECTED[file.rejected] || file.rejected || gettext("not kept");
        return el("li", { class: "muted", text: format(gettext("%(name)s (not kept: %(reason)s)"), { name, reason }) });
      }
      const link = el("a", { href: file.url, download: name, title: name, class: "file-link" });
      if (file.preview_url) link.append(el("img", { class: "file-preview", src: file.preview_url, alt: name, loading: "lazy" }));
      link.append(el("span", { class: "file-name", text: name }));
      return el("li", {}, [link, el("span", { class: "muted small", text: ` ${size(file.size)}` })]);
    }),
  );
}

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

/** The composer's files: picked with the paperclip, listed as chips, sent as multipart. */
class ComposerFiles {
  constructor() {
    this.files = [];
    this.limits = new Map(); // inbox id → {kinds, max_bytes, extensions}
    this.input = document.getElementById("attach-input");
    this.button = document.getElementById("attach-files");
    this.list = document.getElementById("attach-list");
    if (!this.input || !this.button || !this.list) return;
    this.button.addEventListener("click", () => this.input.click());
    this.input.addEventListener("change", () => {
      this.files.push(...Array.from(this.input.files || []));
      this.input.value = "";
      this.render();
    });
  }

  get count() {
    return this.files.length;
  }

  /** The conversation's inbox decides what the paperclip offers. */
  async forInbox(inbox) {
    const id = typeof inbox === "object" && inbox ? inbox.id : inbox;
    this.clear();
    if (!this.button || !id) return;
    if (!this.limits.has(id)) {
      try {
        this.limits.set(id, (await api(`/api/v1/inboxes/${id}/`)).attachments);
      } catch {
        this.limits.set(id, null);
      }
    }
    const limits = this.limits.get(id);
    this.button.hidden = Boolean(limits) && !(limits.kinds || []).length;
    this.input.setAttribute("accept", limits ? (limits.extensions || []).map((ext) => `.${ext}`).join(",") : "");
  }

  render() {
    clear(this.list);
    this.list.hidden = !this.files.length;
    this.files.forEach((file, index) => {
      const remove = el("button", {
        type: "button",
        class: "chip-remove",
        "aria-label": format(gettext("Remove %(name)s"), { name: file.name }),
        text: "×",
        onclick: () => {
          this.files.splice(index, 1);
          this.render();
        },
      });
      this.list.append(el("li", { class: "chip" }, [el("span", { text: `${file.name} · ${size(file.size)}` }), remove]));
    });
  }

  clear() {
    this.files = [];
    if (this.list) this.render();
  }

  /** POST the reply with its files; the API's error (with the reason) as an ApiError. */
  async send(url, payload) {
    const form = new FormData();
    for (const [key, value] of Object.entries(payload)) if (value !== undefined && value !== null) form.append(key, String(value));
    for (const file of this.files) form.append("files", file, file.name);
    const response = await fetch(url, {
      method: "POST",
      body: form,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
    });
    let answer = null;
    try {
      answer = await response.json();
    } catch {
      answer = null;
    }
    if (!response.ok) throw new ApiError(response.status, answer);
    this.clear();
    return answer;
  }
}

export const composerFiles = new ComposerFiles();
