// ModelDashboard view: plots of the last half hour (latency, tokens/s, fallbacks and repairs, queue
// depth), one table per task (chain order, state, breaker, latency) and recent fallbacks.
const SVG = "http://www.w3.org/2000/svg";
const CHARTS = [
  ["Latency p50 (ms)", [["latency_ms_p50", "answer"], ["ttft_ms_p50", "first token"]]],
  ["Tokens per second", [["tokens_per_s", "speed"]]],
  ["Fallbacks and repairs", [["fallbacks", "fallbacks"], ["repairs", "repairs"]]],
  ["Queue depth", [["queue_pending", "waiting"], ["queue_running", "running"]]],
];

// One small line chart; a missing value (no answer in that interval) breaks the line.
function chart(points, title, lines) {
  const W = 280, H = 90, P = 6;
  const figure = el("figure", "nexus-dash-chart");
  const values = lines.flatMap(([key]) => points.map((p) => p[key]).filter((v) => v !== null && v !== undefined));
  const max = Math.max(1, ...values);
  const last = (key) => [...points].reverse().find((p) => p[key] !== null && p[key] !== undefined)?.[key];
  const latest = lines.map(([key, label]) => `${label} ${last(key) === undefined ? "–" : Math.round(last(key) * 10) / 10}`);
  figure.append(el("figcaption", "", `${title}: ${latest.join(", ")} (max ${Math.round(max * 10) / 10})`));
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("width", String(W));
  svg.setAttribute("height", String(H));
  const x = (i) => (points.length > 1 ? P + (i * (W - 2 * P)) / (points.length - 1) : W / 2);
  const y = (v) => H - P - (v / max) * (H - 2 * P);
  lines.forEach(([key, label], j) => {
    let d = "";
    let pen = "M";
    let drawn = 0;
    points.forEach((p, i) => {
      const v = p[key];
      if (v === null || v === undefined) { pen = "M"; return; }
      d += `${pen}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
      pen = "L";
      drawn += 1;
    });
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d.trim() || "M0,0");
    path.setAttribute("class", `nexus-dash-line nexus-dash-line-${j}`);
    path.dataset.series = key;
    path.dataset.points = String(drawn);
    const tip = document.createElementNS(SVG, "title");
    tip.textContent = label;
    path.append(tip);
    svg.append(path);
  });
  figure.append(svg);
  return figure;
}
function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function ms(value) {
  return value === null || value === undefined ? "–" : `${Math.round(value)} ms`;
}

export default {
  render({ model, el: root }) {
    root.classList.add("nexus-dashboard");
    const draw = () => {
      root.replaceChildren();
      const head = el("div", "nexus-dash-head");
      head.append(el("strong", "", "NEXUS models"));
      head.append(el("span", "nexus-dash-time", ` refreshed ${model.get("refreshed_at")}`));
      const button = el("button", "nexus-dash-refresh", "Refresh");
      button.onclick = () => model.send({ type: "refresh" });
      head.append(button);
      root.append(head);
      if (model.get("error")) root.append(el("div", "nexus-dash-error", model.get("error")));
      const points = model.get("series") || [];
      const charts = el("div", "nexus-dash-charts");
      charts.append(el("div", "nexus-dash-sub", `Last ${Math.round((points.length * model.get("series_interval_s")) / 60)} min, one point per ${model.get("series_interval_s")} s`));
      for (const [title, lines] of CHARTS) charts.append(chart(points, title, lines));
      root.append(charts);
      for (const task of model.get("tasks")) {
        const table = el("table", "nexus-dash-table");
        const caption = el("caption", "", `${task.task} (timeout ${task.limits.timeout_s} s, ${task.limits.max_tokens} tokens)`);
        table.append(caption);
        const header = el("tr");
        for (const h of ["#", "provider/model", "state", "breaker", "latency", "failures", "last error"]) {
          header.append(el("th", "", h));
        }
        table.append(header);
        task.chain.forEach((step, i) => {
          const row = el("tr", `nexus-dash-${step.state}`);
          const health = step.health || {};
          for (const cell of [
            String(i + 1),
            `${step.provider}/${step.model}`,
            step.state,
            health.state || "–",
            ms(health.latency_ms),
            String(health.failures ?? 0),
            health.last_error || "",
          ]) {
            row.append(el("td", "", cell));
          }
          table.append(row);
        });
        root.append(table);
      }
      const fallbacks = model.get("fallbacks");
      root.append(el("div", "nexus-dash-sub", `Recent fallbacks (${fallbacks.length} of ${model.get("answers")} answers)`));
      const list = el("ul", "nexus-dash-fallbacks");
      for (const f of fallbacks) list.append(el("li", "", `${f.task}: ${f.failed.join("; ")} → ${f.answered_by}`));
      root.append(list);
    };
    const names = ["tasks", "fallbacks", "refreshed_at", "error", "answers", "series"];
    for (const name of names) model.on(`change:${name}`, draw);
    draw();
    let timer = null;
    const schedule = () => {
      if (timer) clearInterval(timer);
      const every = model.get("refresh_s");
      timer = every > 0 ? setInterval(() => model.send({ type: "refresh" }), every * 1000) : null;
    };
    model.on("change:refresh_s", schedule);
    schedule();
    return () => {
      if (timer) clearInterval(timer);
      for (const name of names) model.off(`change:${name}`, draw);
      model.off("change:refresh_s", schedule);
    };
  },
};
