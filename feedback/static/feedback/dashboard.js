// The metrics dashboard: figures and charts from /api/v1/metrics/… with the page's own filters.
// Chart.js comes from npm (node_modules, served as /static/vendor/chart.js/), never a CDN.

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
  ["csat_percent", "CSAT", "percent", true],
  ["ces_average", "CES (1–7)", "score", true],
  ["nps", "NPS", "nps", true],
  ["response_rate", "Response rate", "percent", true],
  ["first_response_seconds", "First response (median)", "seconds", false, "median"],
  ["first_response_seconds", "First response (p90)", "seconds", false, "p90"],
  ["resolution_seconds", "Resolution time (median)", "seconds", false, "median"],
  ["first_contact_resolution", "First-contact resolution", "percent", true],
  ["recontact_rate_7d", "Recontact within 7 days", "percent", false],
  ["channel_switch_rate", "Channel switches", "percent", false],
  ["reopen_rate", "Reopened", "percent", false],
  ["at_risk_contacts", "Contacts at risk now", "count", false],
];

function valueOf(figure, part) {
  if (!figure) return null;
  if (part) return figure[part];
  return figure.value;
}

function format(value, kind) {
  if (value === null || value === undefined) return "—";
  if (kind === "percent") return `${value.toFixed(1)} %`;
  if (kind === "score") return value.toFixed(2);
  if (kind === "nps") return value.toFixed(0);
  if (kind === "count") return String(value);
  if (kind === "seconds") {
    if (value < 90) return `${value.toFixed(0)} s`;
    if (value < 5400) return `${(value / 60).toFixed(1)} min`;
    return `${(value / 3600).toFixed(1)} h`;
  }
  return value.toFixed(2);
}

function explain(figure, part) {
  if (!figure) return "no data";
  if ("median" in figure) {
    return `${part || "median"} over ${figure.count} conversations (mean ${format(figure.mean, "seconds")}); formula v${figure.version}`;
  }
  if (figure.denominator === null) return `${figure.numerator} contacts; formula v${figure.version}`;
  return `${figure.numerator} ÷ ${figure.denominator}; formula v${figure.version}`;
}

function renderKpis(summary) {
  const holder = document.getElementById("kpis");
  holder.replaceChildren();
  const detail = document.getElementById("figure-detail");
  for (const [name, label, kind, higherIsBetter, part] of KPIS) {
    const now = summary.metrics[name];
    const before = summary.previous.metrics[name];
    const current = valueOf(now, part);
    const previous = valueOf(before, part);
    const card = document.createElement("button");
    card.type = "button";
    card.className = "kpi card";
    card.dataset.metric = name;
    const text = `${label}: ${explain(now, part)}. Previous period: ${format(previous, kind)} (${explain(before, part)}).`;
    card.title = text;
    const title = document.createElement("span");
    title.className = "kpi-label";
    title.textContent = label;
    const value = document.createElement("span");
    value.className = "kpi-value";
    value.textContent = format(current, kind);
    const trend = document.createElement("span");
    trend.className = "kpi-trend";
    if (current !== null && current !== undefined && previous !== null && previous !== undefined) {
      const delta = current - previous;
      const good = delta === 0 ? "flat" : (delta > 0) === higherIsBetter ? "up-good" : "down-bad";
      trend.classList.add(good);
      const arrow = delta > 0 ? "▲" : delta < 0 ? "▼" : "■";
      trend.textContent = `${arrow} ${format(Math.abs(delta), kind === "nps" ? "score" : kind)} vs ${format(previous, kind)}`;
    } else {
      trend.textContent = `previous: ${format(previous, kind)}`;
    }
    const ratio = document.createElement("span");
    ratio.className = "kpi-ratio";
    ratio.hidden = true;
    ratio.textContent = explain(now, part);
    card.append(title, value, trend, ratio);
    card.addEventListener("click", () => {
      ratio.hidden = !ratio.hidden;
      card.setAttribute("aria-expanded", String(!ratio.hidden));
      detail.textContent = text;
    });
    holder.append(card);
  }
}

const COLORS = ["#3b5bdb", "#2b8a3e", "#e67700", "#c92a2a", "#7048e8", "#0c8599"];

function tooltipWithRatio(figures) {
  return {
    callbacks: {
      afterLabel(context) {
        const figure = figures[context.datasetIndex]?.[context.dataIndex];
        return figure ? explain(figure) : "";
      },
    },
  };
}

function chart(id, type, labels, datasets, figures, options = {}) {
  const canvas = document.getElementById(id);
  if (!canvas || !window.Chart) return;
  new window.Chart(canvas, {
    type,
    data: {
      labels,
      datasets: datasets.map((d, i) => ({ backgroundColor: COLORS[i % COLORS.length], borderColor: COLORS[i % COLORS.length], ...d })),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      spanGaps: true,
      plugins: { tooltip: figures ? tooltipWithRatio(figures) : {} },
      onClick(_event, elements) {
        const element = elements[0];
        if (!element || !figures) return;
        const figure = figures[element.datasetIndex]?.[element.index];
        document.getElementById("figure-detail").textContent = `${labels[element.index]}: ${explain(figure)}`;
      },
      ...options,
    },
  });
}

async function main() {
  try {
    const [summary, csatSeries, npsSeries, charts, byChannel, byAgent] = await Promise.all([
      get(withQuery("/api/v1/metrics/summary/")),
      get(withQuery("/api/v1/metrics/timeseries/", { metric: "csat_percent", interval: "day" })),
      get(withQuery("/api/v1/metrics/timeseries/", { metric: "nps", interval: "day" })),
      get(withQuery("/api/v1/metrics/charts/")),
      get(withQuery("/api/v1/metrics/breakdown/", { metric: "csat_percent", by: "channel" })),
      get(withQuery("/api/v1/metrics/breakdown/", { metric: "csat_percent", by: "agent" })),
    ]);
    renderKpis(summary);
    const days = csatSeries.buckets.map((b) => b.start);
    const csatFigures = csatSeries.buckets.map((b) => b.figure);
    const npsFigures = npsSeries.buckets.map((b) => b.figure);
    chart("chart-trend", "line", days, [
      { label: "CSAT %", data: csatFigures.map((f) => f.value) },
      { label: "NPS", data: npsFigures.map((f) => f.value) },
    ], [csatFigures, npsFigures]);
    const dist = charts.distributions;
    const scale = [...Array(11).keys()];
    chart("chart-distribution", "bar", scale.map(String), [
      { label: "CSAT (1–5)", data: scale.map((s) => dist.csat[s] ?? null) },
      { label: "CES (1–7)", data: scale.map((s) => dist.ces[s] ?? null) },
      { label: "NPS (0–10)", data: scale.map((s) => dist.nps[s] ?? null) },
    ], null);
    chart("chart-channel", "bar", byChannel.rows.map((r) => r.label), [
      { label: "CSAT %", data: byChannel.rows.map((r) => r.figure.value) },
    ], [byChannel.rows.map((r) => r.figure)]);
    chart("chart-agent", "bar", byAgent.rows.map((r) => r.label), [
      { label: "CSAT %", data: byAgent.rows.map((r) => r.figure.value) },
    ], [byAgent.rows.map((r) => r.figure)], { indexAxis: "y" });
    const frt = charts.csat_by_first_response;
    chart("chart-frt", "bar", frt.map((r) => r.label), [
      { label: "CSAT %", data: frt.map((r) => r.figure.value) },
    ], [frt.map((r) => r.figure)]);
    const ces = charts.ces_by_channel_switches;
    chart("chart-ces-switch", "bar", ces.map((r) => `${r.label} switches`), [
      { label: "CES average", data: ces.map((r) => r.figure.value) },
    ], [ces.map((r) => r.figure)]);
    document.body.dataset.dashboard = "ready";
  } catch (error) {
    document.getElementById("kpis").textContent = `Could not load the figures (${error.message}).`;
    document.body.dataset.dashboard = "error";
  }
}

main();
