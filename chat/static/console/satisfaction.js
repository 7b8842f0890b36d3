// Predicted satisfaction in the console, for supervisors only (the API refuses everyone else):
// a "likely unhappy" badge on open conversations in the list, and in the conversation's head the
// probability of CSAT >= 4, the expected score and the three features that weigh most
// (/api/v1/satisfaction/conversations/, docs/metrics.md). Text goes in as text, never as HTML.
import { api } from "./api.js";
import { clear, el } from "./dom.js";
import { format, gettext } from "./i18n.js";

const CHUNK = 200; // the API's limit per request
const predictions = new Map(); // conversation id → the API's prediction document
const percentOf = (probability) => Math.round(probability * 100);

/** The list's badge for a conversation: "likely unhappy" when an open one is predicted so. */
export function predictionBadge(id) {
  const prediction = predictions.get(id);
  if (!prediction?.available || !prediction.likely_unhappy) return null;
  return el("span", {
    class: "badge badge-unhappy",
    text: gettext("likely unhappy"),
    title: format(gettext("Predicted: %(percent)s % chance of CSAT 4 or 5"), { percent: percentOf(prediction.satisfied_probability) }),
    dataset: { prediction: "likely-unhappy" },
  });
}

/** Read the predictions of these conversations; `changed(ids)` gets those whose badge changed. */
export async function loadPredictions(ids, changed) {
  const moved = [];
  for (let start = 0; start < ids.length; start += CHUNK) {
    const chunk = ids.slice(start, start + CHUNK);
    let answer;
    try {
      answer = await api("/api/v1/satisfaction/conversations/", { params: { conversation: chunk } });
    } catch {
      return; // predictions are an aid: the console works without them
    }
    for (const row of answer.results) {
      const before = predictions.get(row.conversation_id);
      if (Boolean(before?.likely_unhappy) !== Boolean(row.likely_unhappy)) moved.push(row.conversation_id);
      predictions.set(row.conversation_id, row);
    }
  }
  if (moved.length) changed(moved);
}

function reasonText(reason) {
  const text = reason.effect === "lowers"
    ? gettext("\u2193 %(feature)s: %(value)s (lowers satisfaction)")
    : gettext("\u2191 %(feature)s: %(value)s (raises satisfaction)");
  return format(text, { feature: reason.label, value: reason.value });
}

/** The prediction panel of the open conversation (`holder`), read again from the API. */
export async function showPrediction(id, holder, isCurrent) {
  let prediction;
  try {
    prediction = await api(`/api/v1/satisfaction/conversations/${id}/`);
  } catch {
    holder.hidden = true;
    return;
  }
  if (!isCurrent(id)) return;
  predictions.set(id, prediction);
  clear(holder);
  holder.hidden = false;
  if (!prediction.available) {
    holder.append(el("span", { class: "muted", text: format(gettext("No predicted satisfaction: %(why)s"), { why: prediction.explanation }) }));
    return;
  }
  const answered = prediction.answered_csat !== null && prediction.answered_csat !== undefined;
  const line = el("p", { class: "prediction-line" }, [
    el("span", { class: "prediction-title", text: gettext("Predicted satisfaction") }),
    el("span", {
      text: format(gettext("%(percent)s % chance of CSAT 4–5 · expected %(score)s/5"), {
        percent: percentOf(prediction.satisfied_probability),
        score: prediction.expected_csat.toFixed(1),
      }),
    }),
    prediction.likely_unhappy ? el("span", { class: "badge badge-unhappy", text: gettext("likely unhappy") }) : null,
    answered ? el("span", { class: "muted", text: format(gettext("answered: %(score)s/5"), { score: prediction.answered_csat }) }) : null,
  ]);
  const reasons = el("ul", { class: "prediction-reasons", "aria-label": gettext("What weighs most") });
  for (const reason of prediction.reasons || []) {
    reasons.append(el("li", { class: `reason-${reason.effect}`, text: reasonText(reason) }));
  }
  holder.append(line, reasons);
  holder.dataset.likelyUnhappy = String(Boolean(prediction.likely_unhappy));
}
