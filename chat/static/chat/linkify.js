// Clickable links in message text, safely: linkify(text) returns a DocumentFragment of text nodes
// and <a> elements (never HTML parsed from the text). Only http:, https: and mailto: links are
// made; each opens in a new tab with rel="noopener noreferrer nofollow". Shared by the agent
// console and the website widget (import it from /static/chat/linkify.js).

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const EMAIL_PATTERN = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
const TRAILING = /[.,;:!?'"»”’)\]}>]/;
const WORD_PATTERN = /\S+/g;
const MAX_ADDRESS_WORD = 320;
const ALLOWED_SCHEMES = new Set(["http:", "https:", "mailto:"]);
export const LINK_REL = "noopener noreferrer nofollow";

/** Drop punctuation that ends a sentence rather than the URL (a ")" only when unbalanced). */
function trimUrl(candidate) {
  let end = candidate.length;
  let opened = 0;
  let closed = 0;
  for (const char of candidate) {
    if (char === "(") opened += 1;
    else if (char === ")") closed += 1;
  }
  while (end > 0 && TRAILING.test(candidate[end - 1])) {
    if (candidate[end - 1] === ")") {
      if (closed <= opened) break;
      closed -= 1;
    }
    end -= 1;
  }
  return candidate.slice(0, end);
}

/** The href for a web address typed in a message, or null when it is not one we link. */
export function safeHref(text) {
  let parsed;
  try {
    parsed = new URL(text);
  } catch {
    return null;
  }
  if (!ALLOWED_SCHEMES.has(parsed.protocol)) return null;
  if (parsed.protocol !== "mailto:") {
    // https://bank.example@evil.example/ reads as the bank but goes to evil.example.
    if (!parsed.hostname || parsed.username || parsed.password) return null;
  }
  return parsed.href;
}

/** [{text, href?}, …] for a run of text without URLs: email addresses become mailto: links. */
function emailParts(plain) {
  const parts = [];
  let last = 0;
  for (const word of plain.matchAll(WORD_PATTERN)) {
    // Only words that could be an address (bounded, so the pattern's work stays small).
    if (!word[0].includes("@") || word[0].length > MAX_ADDRESS_WORD) continue;
    for (const match of word[0].matchAll(EMAIL_PATTERN)) {
      const href = safeHref(`mailto:${match[0]}`);
      if (!href) continue;
      const start = word.index + match.index;
      if (start > last) parts.push({ text: plain.slice(last, start) });
      parts.push({ text: match[0], href });
      last = start + match[0].length;
    }
  }
  if (last < plain.length) parts.push({ text: plain.slice(last) });
  return parts;
}

/** [{text, href?}, …]: the text cut into plain runs and links (joined, they are the text again). */
export function linkParts(text) {
  const source = String(text ?? "");
  const parts = [];
  let last = 0;
  for (const match of source.matchAll(URL_PATTERN)) {
    const url = trimUrl(match[0]);
    const href = safeHref(url);
    parts.push(...emailParts(source.slice(last, match.index)));
    // A web address we do not link stays text as a whole (its "user@host" is no email address).
    parts.push(href ? { text: url, href } : { text: url });
    last = match.index + url.length;
  }
  parts.push(...emailParts(source.slice(last)));
  return parts;
}

/** The text as a DocumentFragment: text nodes, and <a> elements for its links. */
export function linkify(text, doc = document) {
  const fragment = doc.createDocumentFragment();
  for (const part of linkParts(text)) {
    if (!part.href) {
      fragment.append(doc.createTextNode(part.text));
      continue;
    }
    const link = doc.createElement("a");
    link.href = part.href;
    link.textContent = part.text;
    link.rel = LINK_REL;
    link.target = "_blank";
    fragment.append(link);
  }
  return fragment;
}
