// The metrics dashboard: figures and charts from /api/v1/metrics/… with the page's own filters,
// read again (at most about once a second) whenever the metrics pipeline commits something for
// one of the page's inboxes: the console socket with ?watch=metrics sends `metrics.updated`.
// Chart.js comes from npm (node_modules, served as /static/vendor/chart.js/), never a CDN.
import { applyFilterUi } from "../console/filters.js";
import { LiveSocket } from "../console/live.js";
import { format as fill, gettext, language, ngettext } from "../console/i18n.js";
import { renderSatisfaction } from "./satisfaction.js";
import { SLA_KPIS, loadSla } from "./sla.js";

const config = JSON.parse(document.getElementById("dashboard-config").textContent);
const withQuery = (path, extra) => {
  const params = new URLSearchParams(config.query || "");
  for (const [key, value] of Object.entries(extra || {})) params.set(key, value);
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
};

async function get(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

// name, label, kind (percent | score | nps | seconds | ratio | count), higher is better?
const KPIS = [
  ["csat_percent", gettext("CSAT"), "percent", true],
  ["ces_average", gettext("CES (1–7)"), "score", true],
  ["nps", gettext("NPS"), "nps", true],
  ["response_rate", gettext("Response rate"), "percent", true],
  ["first_response_seconds", gettext("First response (median)"), "seconds", false, "median"],
  ["first_response_seconds", gettext("First response (p90)"), "seconds", false, "p90"],
  ["resolution_seconds", gettext("Resolution time (median)"), "seconds", false, "median"],
  ["first_contact_resolution", gettext("First-contact resolution"), "percent", true],
  ["recontact_rate_7d", gettext("Recontact within 7 days"), "percent", false],
  ["channel_switch_rate", gettext("Channel switches"), "percent", false],
  ["reopen_rate", gettext("Reopened"), "percent", false],
  ["at_risk_contacts", gettext("Contacts at risk now"), "count", false],
  ...SLA_KPIS,
];

// Numbers as the agent's language writes them (a comma for decimals in Spanish and Russian…).
const fixedFormats = new Map();
function fixed(value, digits) {
  if (!fixedFormats.has(digits)) {
    fixedFormats.set(digits, new Intl.NumberFormat(language, { minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping: false }));
  }
  return fixedFormats.get(digits).format(value);
}

function valueOf(figure, part) {
  if (!figure) return null;
  if (part) return figure[part];
  return figure.value;
}

const MINUS = "\u2212";

function format(value, kind) {
  if (value === null || value === undefined) return "—";
  let text;
  if (kind === "percent") text = fill(gettext("%(value)s %"), { value: fixed(value, 1) });
  else if (kind === "score") text = fixed(value, 2);
  else if (kind === "nps") text = fixed(value, 0);
  else if (kind === "count") text = fixed(value, 0);
  else if (kind === "seconds") {
    const size = Math.abs(value);
    if (size < 90) text = fill(gettext("%(value)s s"), { value: fixed(value, 0) });
    else if (size < 5400) text = fill(gettext("%(value)s min"), { value: fixed(value / 60, 1) });
    else text = fill(gettext("%(value)s h"), { value: fixed(value / 3600, 1) });
  } else text = fixed(value, 2);
  return text.replace(/^-/, MINUS);
}

/** A change between two periods: a share's in percentage points, anything else in its own unit. */
function formatChange(delta, kind) {
  const size = Math.abs(delta);
  const text = kind === "percent" ? fill(gettext("%(value)s pp"), { value: fixed(size, 1) }) : format(size, kind);
  if (Number(size.toFixed(kind === "percent" ? 1 : 2)) === 0) return { text, direction: 0 };
  return { text: `${delta < 0 ? MINUS : "+"}${text}`, direction: Math.sign(delta) };
}

function explain(figure, part) {
  if (!figure) return gettext("no data");
  if ("median" in figure) {
    const text = part === "p90"
      ? ngettext("p90 over %(count)s conversation (mean %(mean)s); formula v%(version)s", "p90 over %(count)s conversations (mean %(mean)s); formula v%(version)s", figure.count)
      : ngettext("median over %(count)s conversation (mean %(mean)s); formula v%(version)s", "median over %(count)s conversations (mean %(mean)s); formula v%(version)s", figure.count);
    return fill(text, { count: figure.count, mean: format(figure.mean, "seconds"), version: figure.version });
  }
  if (figure.denominator === null) {
    return fill(ngettext("%(count)s contact; formula v%(version)s", "%(count)s contacts; formula v%(version)s", figure.numerator), { count: figure.numerator, version: figure.version });
  }
  return fill(gettext("%(numerator)s ÷ %(denominator)s; formula v%(version)s"), figure);
}

const kpiCards = new Map(); // "name:part" → the card's parts, made once and updated in place

function kpiCard(name, label, part) {
  const key = `${name}:${part || ""}`;
  if (kpiCards.has(key)) return kpiCards.get(key);
  const card = document.createElement("button");
  card.type = "button";
  card.className = "kpi card";
  card.dataset.metric = name;
  if (part) card.dataset.part = part;
  card.setAttribute("aria-expanded", "false");
  const title = document.createElement("span");
  title.className = "kpi-label";
  title.textContent = label;
  const value = document.createElement("span");
  value.className = "kpi-value";
  const trend = document.createElement("span");
  trend.className = "kpi-trend";
  const ratio = document.createElement("span");
  ratio.className = "kpi-ratio";
  ratio.hidden = true;
  card.append(title, value, trend, ratio);
  const parts = { card, value, trend, ratio, text: "" };
  card.addEventListener("click", () => {
    ratio.hidden = !ratio.hidden;
    card.setAttribute("aria-expanded", String(!ratio.hidden));
    document.getElementById("figure-detail").textContent = parts.text;
  });
  kpiCards.set(key, parts);
  return parts;
}

function renderKpis(summary) {
  const holder = document.getElementById("kpis");
  if (!kpiCards.size) holder.replaceChildren();
  for (const [name, label, kind, higherIsBetter, part] of KPIS) {
    const now = summary.metrics[name];
    const before = summary.previous.metrics[name];
    const current = valueOf(now, part);
    const previous = valueOf(before, part);
    const parts = kpiCard(name, label, part);
    parts.text = fill(gettext("%(label)s: %(now)s. Previous period: %(previous)s (%(before)s)."), {
      label,
      now: explain(now, part),
      previous: format(previous, kind),
      before: explain(before, part),
    });
    parts.card.title = parts.text;
    parts.value.textContent = format(current, kind);
    parts.trend.className = "kpi-trend";
    if (current !== null && current !== undefined && previous !== null && previous !== undefined) {
      const change = formatChange(current - previous, kind);
      if (change.direction) parts.trend.classList.add((change.direction > 0) === higherIsBetter ? "up-good" : "down-bad");
      const arrow = change.direction > 0 ? "▲" : change.direction < 0 ? "▼" : "■";
      parts.trend.textContent = `${arrow} ${fill(gettext("%(change)s vs %(previous)s"), { change: change.text, previous: format(previous, kind) })}`;
    } else {
      parts.trend.textContent = fill(gettext("previous: %(previous)s"), { previous: format(previous, kind) });
    }
    parts.ratio.textContent = explain(now, part);
    if (!parts.card.isConnected) holder.append(parts.card);
  }
}

const COLORS = ["#3b5bdb", "#2b8a3e", "#e67700", "#c92a2a", "#7048e8", "#0c8599"];

const charts = new Map(); // canvas id → {chart, labels, figures}: drawn once, then updated in place

function tooltipWithRatio(view) {
  return {
    callbacks: {
      afterLabel(context) {
        const figure = view.figures?.[context.datasetIndex]?.[context.dataIndex];
        return figure ? explain(figure) : "";
      },
    },
  };
}

function chart(id, type, labels, datasets, figures, options = {}) {
  const canvas = document.getElementById(id);
  if (!canvas || !window.Chart) return;
  const data = {
    labels,
    datasets: datasets.map((d, i) => ({ backgroundColor: COLORS[i % COLORS.length], borderColor: COLORS[i % COLORS.length], ...d })),
  };
  const existing = charts.get(id);
  if (existing) {
    existing.labels = labels;
    existing.figures = figures;
    existing.chart.data = data;
    existing.chart.update("none");
    return;
  }
  const view = { labels, figures, chart: null };
  view.chart = new window.Chart(canvas, {
    type,
    data,
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      spanGaps: true,
      plugins: { tooltip: figures ? tooltipWithRatio(view) : {} },
      onClick(_event, elements) {
        const element = elements[0];
        if (!element || !view.figures) return;
        const figure = view.figures[element.datasetIndex]?.[element.index];
        document.getElementById("figure-detail").textContent = `${view.labels[element.index]}: ${explain(figure)}`;
      },
      ...options,
    },
  });
  charts.set(id, view);
}

async function load() {
  const [summary, csatSeries, npsSeries, charts, byChannel, byAgent, satisfaction] = await Promise.all([
    get(withQuery("/api/v1/metrics/summary/")),
    get(withQuery("/api/v1/metrics/timeseries/", { metric: "csat_percent", interval: "day" })),
    get(withQuery("/api/v1/metrics/timeseries/", { metric: "nps", interval: "day" })),
    get(withQuery("/api/v1/metrics/charts/")),
    get(withQuery("/api/v1/metrics/breakdown/", { metric: "csat_percent", by: "channel" })),
    get(withQuery("/api/v1/metrics/breakdown/", { metric: "csat_percent", by: "agent" })),
    get(withQuery("/api/v1/metrics/satisfaction/")),
  ]);
  renderKpis(summary);
  renderSatisfaction(satisfaction, { supervisor: Boolean(config.supervisor), onTrained: refreshSoon });
  const days = csatSeries.buckets.map((b) => b.start);
  const csatFigures = csatSeries.buckets.map((b) => b.figure);
  const npsFigures = npsSeries.buckets.map((b) => b.figure);
  chart("chart-trend", "line", days, [
    { label: gettext("CSAT %"), data: csatFigures.map((f) => f.value) },
    { label: gettext("NPS"), data: npsFigures.map((f) => f.value) },
  ], [csatFigures, npsFigures]);
  const dist = charts.distributions;
  const scale = [...Array(11).keys()];
  chart("chart-distribution", "bar", scale.map(String), [
    { label: gettext("CSAT (1–5)"), data: scale.map((s) => dist.csat[s] ?? null) },
    { label: gettext("CES (1–7)"), data: scale.map((s) => dist.ces[s] ?? null) },
    { label: gettext("NPS (0–10)"), data: scale.map((s) => dist.nps[s] ?? null) },
  ], null);
  chart("chart-channel", "bar", byChannel.rows.map((r) => r.label), [
    { label: gettext("CSAT %"), data: byChannel.rows.map((r) => r.figure.value) },
  ], [byChannel.rows.map((r) => r.figure)]);
  chart("chart-agent", "bar", byAgent.rows.map((r) => r.label), [
    { label: gettext("CSAT %"), data: byAgent.rows.map((r) => r.figure.value) },
  ], [byAgent.rows.map((r) => r.figure)], { indexAxis: "y" });
  const frt = charts.csat_by_first_response;
  chart("chart-frt", "bar", frt.map((r) => r.label), [
    { label: gettext("CSAT %"), data: frt.map((r) => r.figure.value) },
  ], [frt.map((r) => r.figure)]);
  await loadSla({ get, withQuery, chart, csatBySla: charts.csat_by_sla });
  const ces = charts.ces_by_channel_switches;
  chart("chart-ces-switch", "bar", ces.map((r) => fill(ngettext("%(count)s switch", "%(count)s switches", Number.parseInt(r.label, 10) || 0), { count: r.label })), [
    { label: gettext("CES average"), data: ces.map((r) => r.figure.value) },
  ], [ces.map((r) => r.figure)]);
}

// ------------------------------------------------------------------ reading the figures, live
const REFRESH_GAP_MS = 1000; // at most one read of the API per second, however many batches commit
const live = document.getElementById("dash-live");
const refresh = { running: false, again: false, timer: null, startedAt: 0, hiddenSince: false };

function setLive(text) {
  if (live) live.textContent = text;
}

async function readFigures() {
  refresh.running = true;
  refresh.startedAt = Date.now();
  try {
    await load();
    document.body.dataset.dashboard = "ready";
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
    setLive(fill(gettext("Live · updated %(time)s"), { time: new Date().toLocaleTimeString(language) }));
  } catch (error) {
    if (!kpiCards.size) {
      document.getElementById("kpis").textContent = fill(gettext("Could not load the figures (%(error)s)."), { error: error.message });
      document.body.dataset.dashboard = "error";
    } else {
      setLive(fill(gettext("Could not refresh the figures (%(error)s); they are as of the last update."), { error: error.message }));
    }
  } finally {
    refresh.running = false;
    if (refresh.again) {
      refresh.again = false;
      refreshSoon();
    }
  }
}

/** Read the figures again soon: right away when the last read is a second old, else at that second. */
function refreshSoon() {
  if (document.hidden) {
    refresh.hiddenSince = true; // read once when the tab is looked at again
    return;
  }
  if (refresh.timer) return;
  if (refresh.running) {
    refresh.again = true;
    return;
  }
  const wait = Math.max(0, refresh.startedAt + REFRESH_GAP_MS - Date.now());
  refresh.timer = setTimeout(() => {
    refresh.timer = null;
    readFigures();
  }, wait);
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && refresh.hiddenSince) {
    refresh.hiddenSince = false;
    refreshSoon();
  }
});

const watched = Array.isArray(config.inbox_ids) ? new Set(config.inbox_ids) : null; // null: all of mine

function onFrame(frame) {
  if (frame.type !== "metrics.updated") return;
  const inboxes = Array.isArray(frame.inbox_ids) ? frame.inbox_ids : [];
  if (watched && !inboxes.some((id) => watched.has(id))) return;
  refreshSoon();
}

/** The console's socket, asking only for the metrics of the user's inboxes (docs/websocket-protocol.md). */
class MetricsSocket extends LiveSocket {
  url() {
    return `${super.url()}?watch=metrics`;
  }
}

let connectedBefore = false;
const socket = new MetricsSocket({
  onFrame,
  onOpen: () => {
    // After a reconnect, whatever committed meanwhile: read once.
    if (connectedBefore) refreshSoon();
    connectedBefore = true;
  },
  onStatus: (status) => {
    document.body.dataset.live = status;
    if (status === "reconnecting") setLive(gettext("Live updates paused: reconnecting…"));
    if (status === "logged-out") setLive(gettext("Live updates stopped: you are logged out."));
  },
});

// ------------------------------------------------------------------ filter chips
const form = document.getElementById("dash-filters");
form.addEventListener("change", (event) => {
  if (event.target.closest("details[data-filter]")) applyFilterUi(form);
});
applyFilterUi(form);

readFigures();
socket.connect();
