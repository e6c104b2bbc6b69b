// ChatWidget view: the conversation, an input box and a send button.
// The kernel side streams the answer by updating the `messages` trait.
function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

export default {
  render({ model, el: root }) {
    root.classList.add("nexus-chat");
    const log = el("div", "nexus-chat-log");
    const form = el("form", "nexus-chat-form");
    const input = el("textarea", "nexus-chat-input");
    input.rows = 2;
    const send = el("button", "nexus-chat-send", "Send");
    send.type = "submit";
    const error = el("div", "nexus-chat-error");
    form.append(input, send);
    root.append(log, form, error);

    const draw = () => {
      log.replaceChildren();
      for (const m of model.get("messages")) {
        const item = el("div", `nexus-chat-msg nexus-chat-${m.role}`);
        item.append(el("div", "nexus-chat-text", m.content || "…"));
        if (m.model) {
          item.append(el("div", "nexus-chat-meta", `${m.provider}/${m.model} · ${m.latency_ms} ms`));
        }
        log.append(item);
      }
      log.scrollTop = log.scrollHeight;
      const busy = model.get("busy");
      send.disabled = busy;
      root.dataset.busy = String(busy);
      input.placeholder = model.get("placeholder");
      error.textContent = model.get("error");
    };

    const submit = (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text || model.get("busy")) return;
      model.send({ type: "chat", text });
      input.value = "";
    };
    form.addEventListener("submit", submit);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) submit(event);
      event.stopPropagation(); // keep JupyterLab's notebook shortcuts out of the text box
    });

    for (const name of ["messages", "busy", "error", "placeholder"]) model.on(`change:${name}`, draw);
    draw();
    return () => {
      for (const name of ["messages", "busy", "error", "placeholder"]) model.off(`change:${name}`, draw);
    };
  },
};
