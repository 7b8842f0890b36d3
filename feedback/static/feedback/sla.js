// The dashboard's business hours and SLA figures (docs/metrics.md "Business hours and SLAs"): tiles
// for business-hours first response and resolution beside calendar time, time in queue and SLA
// achievement (numerator ÷ denominator on click, like every tile), and charts of the breaches by
// agent, team, inbox and channel and of CSAT when the SLA was met against breached.
import { gettext } from "../console/i18n.js";

// name, label, kind, higher is better?, part: the same rows as dashboard.js's KPIS
export const SLA_KPIS = [
  ["first_response_business_seconds", gettext("First response, business hours (median)"), "seconds", false, "median"],
  ["first_response_business_seconds", gettext("First response, business hours (p90)"), "seconds", false, "p90"],
  ["resolution_business_seconds", gettext("Resolution, business hours (median)"), "seconds", false, "median"],
  ["queue_seconds", gettext("Time in queue (median)"), "seconds", false, "median"],
  ["queue_seconds", gettext("Time in queue (p90)"), "seconds", false, "p90"],
  ["sla_first_response_achievement", gettext("SLA met: first response"), "percent", true],
  ["sla_next_response_achievement", gettext("SLA met: next response"), "percent", true],
  ["sla_resolution_achievement", gettext("SLA met: resolution"), "percent", true],
  ["sla_breaches", gettext("SLA breaches"), "count", false],
];

const BREAKDOWNS = [
  ["agent", "chart-sla-agent"],
  ["team", "chart-sla-team"],
  ["inbox", "chart-sla-inbox"],
  ["channel", "chart-sla-channel"],
];

/** Read the breakdowns and draw the SLA charts with the dashboard's own `chart` helper. */
export async function loadSla({ get, withQuery, chart, csatBySla }) {
  const rows = await Promise.all(
    BREAKDOWNS.map(([by]) => get(withQuery("/api/v1/metrics/breakdown/", { metric: "sla_breaches", by }))),
  );
  BREAKDOWNS.forEach(([, id], index) => {
    const found = rows[index].rows;
    chart(id, "bar", found.map((r) => r.label), [
      { label: gettext("SLA breaches"), data: found.map((r) => r.figure.value) },
    ], [found.map((r) => r.figure)], { indexAxis: "y" });
  });
  const labels = { met: gettext("SLA met"), breached: gettext("SLA breached") };
  chart("chart-csat-sla", "bar", csatBySla.map((r) => labels[r.label] || r.label), [
    { label: gettext("CSAT %"), data: csatBySla.map((r) => r.figure.value) },
  ], [csatBySla.map((r) => r.figure)]);
}
