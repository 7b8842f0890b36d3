// SLAs and waiting on the customer in the console (docs/sla.md): the countdown of a conversation's
// soonest SLA clock on every row, in the queue and in the conversation's head (ticking each second,
// amber from the 75 % warning, red once breached, "paused" while pending or snoozed); the live
// warning to the assignee and the supervisors; the list's "Due soonest" order; the words of the
// timeline's pending and SLA lines. Text goes in as text, never as HTML.
import { dateTime, el, toast } from "./dom.js";
import { format, gettext } from "./i18n.js";
import { notify } from "./alerts.js";

const TARGET_LABELS = {
  first_response: gettext("First response"),
  next_response: gettext("Next response"),
  resolution: gettext("Resolution"),
};

/** "1 h 04 min", "3 min 05 s", "42 s": how long, coarse enough to read at a glance. */
export function span(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = total % 60;
  if (total >= 86400) return format(gettext("%(days)s d %(hours)s h"), { days: Math.floor(total / 86400), hours: hours % 24 });
  if (hours) return format(gettext("%(hours)s h %(minutes)s min"), { hours, minutes: String(minutes).padStart(2, "0") });
  if (minutes) return format(gettext("%(minutes)s min %(seconds)s s"), { minutes, seconds: String(rest).padStart(2, "0") });
  return format(gettext("%(seconds)s s"), { seconds: rest });
}

/** What one countdown says now, and its state: ok, warning, breached or paused. */
export function countdown(clock, now = Date.now()) {
  const label = TARGET_LABELS[clock.target] || clock.target;
  if (clock.paused || !clock.due_at) return { state: "paused", text: format(gettext("%(target)s: paused"), { target: label }) };
  const left = (new Date(clock.due_at).getTime() - now) / 1000;
  if (left <= 0 || clock.breached) {
    return { state: "breached", text: format(gettext("%(target)s overdue by %(time)s"), { target: label, time: span(-left) }) };
  }
  const warned = clock.warned || (clock.warn_at && new Date(clock.warn_at).getTime() <= now);
  return { state: warned ? "warning" : "ok", text: format(gettext("%(target)s due in %(time)s"), { target: label, time: span(left) }) };
}

/** The badge of a conversation's soonest clock (null without one): ticks by itself. */
export function slaBadge(conversation) {
  const clock = (conversation?.sla || [])[0];
  if (!clock || conversation.status === "resolved") return null;
  const node = el("span", {
    class: "badge sla-countdown",
    role: "timer",
    dataset: { sla: JSON.stringify(clock), conversationId: String(conversation.id) },
  });
  paint(node);
  return node;
}

function paint(node, now = Date.now()) {
  let clock;
  try {
    clock = JSON.parse(node.dataset.sla);
  } catch {
    return;
  }
  const shown = countdown(clock, now);
  node.textContent = shown.text;
  node.dataset.state = shown.state;
  node.title = clock.due_at ? dateTime(clock.due_at) : "";
}

setInterval(() => {
  const now = Date.now();
  for (const node of document.querySelectorAll(".sla-countdown")) paint(node, now);
}, 1000);

// ------------------------------------------------------------------ the timeline and live warnings

/** The words of the timeline lines this module owns; null for the others. */
export function slaEventText(event) {
  const data = event.data || {};
  const label = TARGET_LABELS[data.target] || data.target;
  switch (event.kind) {
    case "pending":
      return event.actor?.name
        ? format(gettext("Waiting on the customer (set by %(agent)s)"), { agent: event.actor.name })
        : gettext("Waiting on the customer");
    case "sla_warning":
      return format(gettext("SLA warning: %(target)s due %(when)s"), { target: label, when: dateTime(data.due_at) });
    case "sla_breached":
      return format(gettext("SLA breached: %(target)s was due %(when)s"), { target: label, when: dateTime(data.due_at) });
    case "woke":
      return data.was === "pending" ? gettext("The customer wrote: no longer waiting on them") : null;
    case "resolved":
      return data.reason === "pending_expired" ? gettext("Resolved automatically: the customer did not answer in time") : null;
    default:
      return null;
  }
}

/** A warning or breach reaches the conversation's assignee, and supervisors for every one. */
export function alertSla(event, { me, supervisor, open }) {
  if (event.kind !== "sla_warning" && event.kind !== "sla_breached") return;
  const assignee = event.data?.assignee?.id;
  if (assignee !== me && !supervisor) return;
  const text = slaEventText(event);
  const line = format(gettext("Conversation #%(id)s — %(what)s"), { id: event.conversation_id, what: text });
  toast(line, { error: event.kind === "sla_breached" });
  notify(gettext("SLA"), line, () => open(event.conversation_id));
}
