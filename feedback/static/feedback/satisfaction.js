// The dashboard's "satisfaction of every resolved conversation": the estimate with its 95 % interval,
// coverage, respondents against non-respondents, the model's evaluation beside the average-only
// baseline, and predicted beside answered CSAT by agent, team and channel
// (/api/v1/metrics/satisfaction/, docs/metrics.md). Every text goes in as text, never as HTML.
import { api } from "../console/api.js";
import { format, gettext } from "../console/i18n.js";

const MINUS = "\u2212";
const pct = (value) => (value === null || value === undefined ? "—" : format(gettext("%(value)s %"), { value: value.toFixed(1) }));
const signed = (value, digits = 1) => `${value < 0 ? MINUS : "+"}${Math.abs(value).toFixed(digits)}`;
const fixed = (value, digits) => (value === null || value === undefined ? "—" : value.toFixed(digits));

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of [].concat(children)) if (child) node.append(child);
  return node;
}

function estimateBlock(metrics) {
  const estimate = metrics.estimated_csat_percent;
  const coverage = metrics.satisfaction_coverage;
  const block = el("div", { class: "sat-estimate" });
  block.append(
    el("span", { class: "kpi-label", text: gettext("Estimated CSAT, every resolved conversation") }),
    el("span", { class: "kpi-value", id: "sat-estimate", text: pct(estimate.value) }),
    el("span", {
      class: "sat-interval",
      id: "sat-interval",
      text: estimate.value === null ? gettext("no estimate") : format(gettext("95 % interval %(low)s – %(high)s"), { low: pct(estimate.low), high: pct(estimate.high) }),
    }),
    el("span", {
      class: "muted",
      id: "sat-coverage",
      text: format(gettext("%(resolved)s resolved: %(answered)s answered, %(predicted)s predicted, %(neither)s neither"), { resolved: coverage.denominator, answered: coverage.answered, predicted: coverage.predicted, neither: coverage.neither }),
    }),
  );
  return block;
}

function respondentsBlock(metrics) {
  const answered = metrics.respondents_csat_percent;
  const respondents = metrics.respondents_predicted_csat_percent;
  const others = metrics.nonrespondents_predicted_csat_percent;
  const block = el("div", { class: "sat-respondents", id: "sat-respondents" });
  block.append(
    el("span", { class: "kpi-label", text: gettext("Respondents and non-respondents") }),
    el("span", { text: format(gettext("Respondents: %(answered)s answered satisfied (%(count)s), %(predicted)s predicted"), { answered: pct(answered.value), count: answered.denominator, predicted: pct(respondents.value) }) }),
    el("span", { text: format(gettext("Non-respondents: %(predicted)s predicted (%(count)s)"), { predicted: pct(others.value), count: others.denominator }) }),
  );
  if (respondents.value !== null && others.value !== null) {
    const gap = others.value - respondents.value;
    block.append(
      el("span", {
        class: "muted",
        text: format(gettext("Non-response bias: the silent customers' predicted CSAT is %(gap)s pp from the respondents'."), { gap: signed(gap) }),
      }),
    );
  }
  return block;
}

function evaluationBlock(model) {
  const block = el("div", { class: "sat-evaluation", id: "sat-evaluation" });
  const run = model.model;
  const evaluation = run.evaluation;
  const baseline = evaluation.baseline;
  const csat = evaluation.holdout_csat;
  const trained = new Date(run.trained_at).toLocaleString();
  block.append(
    el("p", {
      text: format(gettext("Model v%(version)s, trained %(when)s on %(answers)s answered conversations. Evaluated on the %(holdout)s newest answers, which it never saw:"), {
        version: run.version, when: trained, answers: run.answers, holdout: evaluation.holdout_answers,
      }),
    }),
  );
  const table = el("table", { class: "sat-table" });
  table.append(
    el("thead", {}, el("tr", {}, [el("th", { text: "" }), el("th", { text: gettext("model") }), el("th", { text: gettext("average only") })])),
  );
  const body = el("tbody");
  const rows = [
    [gettext("AUC (0.5 = a guess)"), fixed(evaluation.auc, 3), fixed(baseline.auc, 3)],
    [gettext("Brier score (lower is better)"), fixed(evaluation.brier, 4), fixed(baseline.brier, 4)],
    [gettext("Calibration error"), fixed(evaluation.calibration_error, 3), fixed(baseline.calibration_error, 3)],
    [
      gettext("CSAT %: predicted vs actual"),
      format(gettext("%(predicted)s vs %(actual)s (%(error)s ± %(se)s pp)"), {
        predicted: pct(csat.predicted_percent), actual: pct(csat.actual_percent), error: signed(csat.error_pp), se: csat.error_se_pp.toFixed(1),
      }),
      format(gettext("%(predicted)s (%(error)s pp)"), { predicted: pct(baseline.holdout_csat.predicted_percent), error: signed(baseline.holdout_csat.error_pp) }),
    ],
    [gettext("Expected CSAT, mean absolute error"), fixed(evaluation.expected_csat_mae, 2), fixed(baseline.expected_csat_mae, 2)],
  ];
  for (const [label, mine, theirs] of rows) {
    body.append(el("tr", {}, [el("th", { scope: "row", text: label }), el("td", { text: mine }), el("td", { text: theirs })]));
  }
  table.append(body);
  block.append(table);
  const calibration = el("table", { class: "sat-table sat-calibration" });
  calibration.append(
    el("caption", { text: gettext("Calibration on the hold-out: predicted against actual share satisfied") }),
    el("thead", {}, el("tr", {}, [el("th", { text: gettext("predicted") }), el("th", { text: gettext("answers") }), el("th", { text: gettext("mean predicted") }), el("th", { text: gettext("actual") })])),
  );
  const calBody = el("tbody");
  for (const bin of evaluation.calibration.filter((b) => b.count)) {
    calBody.append(
      el("tr", {}, [
        el("td", { text: format(gettext("%(from)s–%(to)s %"), { from: Math.round(bin.from * 100), to: Math.round(bin.to * 100) }) }),
        el("td", { text: String(bin.count) }),
        el("td", { text: pct(bin.predicted * 100) }),
        el("td", { text: pct(bin.actual * 100) }),
      ]),
    );
  }
  calibration.append(calBody);
  block.append(calibration);
  return block;
}

function breakdownBlock(breakdowns) {
  const block = el("div", { class: "sat-breakdowns" });
  const names = { agent: gettext("Agent"), team: gettext("Team"), channel: gettext("Channel") };
  const captions = {
    agent: gettext("Estimated beside answered CSAT %, by agent"),
    team: gettext("Estimated beside answered CSAT %, by team"),
    channel: gettext("Estimated beside answered CSAT %, by channel"),
  };
  for (const [by, rows] of Object.entries(breakdowns)) {
    const table = el("table", { class: "sat-table", "data-breakdown": by });
    table.append(
      el("caption", { text: captions[by] || by }),
      el("thead", {}, el("tr", {}, [el("th", { text: names[by] || by }), el("th", { text: gettext("estimated") }), el("th", { text: gettext("answered") }), el("th", { text: gettext("resolved") })])),
    );
    const body = el("tbody");
    for (const row of rows) {
      const f = row.figure;
      const estimate = f.value === null ? "—" : format(gettext("%(value)s (%(low)s–%(high)s)"), { value: pct(f.value), low: pct(f.low), high: pct(f.high) });
      body.append(
        el("tr", {}, [
          el("th", { scope: "row", text: row.label }),
          el("td", { text: estimate }),
          el("td", { text: format(gettext("%(value)s among %(count)s answered"), { value: pct(row.answered.value), count: row.answered.denominator }) }),
          el("td", { text: String(row.coverage.denominator) }),
        ]),
      );
    }
    if (!rows.length) body.append(el("tr", {}, el("td", { colspan: "4", class: "muted", text: gettext("No resolved conversations.") })));
    table.append(body);
    block.append(table);
  }
  return block;
}

function trainButton(holder, onTrained) {
  const button = el("button", { type: "button", class: "btn", id: "sat-train", text: gettext("Train now") });
  const note = el("span", { class: "muted", id: "sat-train-note", "aria-live": "polite" });
  button.addEventListener("click", async () => {
    button.disabled = true;
    note.textContent = gettext("Training…");
    try {
      await api("/api/v1/satisfaction/model/train/", { method: "POST", body: {} });
      note.textContent = gettext("Training started; the figures follow when it is done.");
      onTrained();
    } catch (error) {
      note.textContent = format(gettext("Could not train: %(error)s"), { error: error.message });
    } finally {
      button.disabled = false;
    }
  });
  holder.append(el("p", { class: "sat-actions" }, [button, note]));
}

/** Draw the section from the API's answer; `supervisor` adds the "Train now" button. */
export function renderSatisfaction(data, { supervisor, onTrained }) {
  const holder = document.getElementById("satisfaction-body");
  if (!holder) return;
  holder.replaceChildren();
  const model = data.model;
  if (!model.available) {
    holder.append(
      el("p", { class: "sat-unavailable", id: "sat-explanation", role: "status", text: format(gettext("No estimate for the silent customers yet. %(why)s"), { why: model.explanation }) }),
      el("p", { class: "muted", text: format(gettext("%(answers)s answered conversations so far; the model needs at least %(minimum)s."), { answers: model.answered_conversations, minimum: model.min_answers }) }),
    );
    if (supervisor) trainButton(holder, onTrained);
    holder.append(breakdownBlock(data.breakdowns));
    document.body.dataset.satisfaction = "unavailable";
    return;
  }
  const top = el("div", { class: "sat-top" }, [estimateBlock(data.metrics), respondentsBlock(data.metrics)]);
  holder.append(top, evaluationBlock(model));
  const latest = model.latest_run;
  if (latest && latest.version !== model.model.version) {
    holder.append(el("p", { class: "muted", text: format(gettext("Latest training (v%(version)s, %(status)s): %(reason)s"), { version: latest.version, status: latest.status, reason: latest.reason }) }));
  }
  if (supervisor) trainButton(holder, onTrained);
  holder.append(breakdownBlock(data.breakdowns));
  document.body.dataset.satisfaction = "ready";
}
