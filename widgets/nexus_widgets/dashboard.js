// ModelDashboard view: one table per task (chain order, state, breaker, latency) and recent fallbacks.
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
    const names = ["tasks", "fallbacks", "refreshed_at", "error", "answers"];
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
