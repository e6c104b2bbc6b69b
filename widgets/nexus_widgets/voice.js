// VoiceRecorder view: a record/stop button. The recording goes to the kernel as a binary buffer;
// the kernel transcribes it and sets `transcript` and `command`.
export default {
  render({ model, el: root }) {
    root.classList.add("nexus-voice");
    const button = document.createElement("button");
    button.className = "nexus-voice-button";
    const status = document.createElement("span");
    status.className = "nexus-voice-status";
    const transcript = document.createElement("div");
    transcript.className = "nexus-voice-transcript";
    root.append(button, status, transcript);

    let recorder = null;
    let chunks = [];

    const draw = () => {
      const state = model.get("state");
      button.textContent = state === "recording" ? "■ Stop" : "● Record";
      button.disabled = state === "transcribing";
      const command = model.get("command");
      status.textContent = model.get("error") || (state === "idle" ? "" : `${state}…`);
      transcript.textContent = model.get("transcript")
        ? `“${model.get("transcript")}”${command && command.name ? ` → ${command.title || command.name}` : ""}`
        : "";
    };

    const start = async () => {
      try {
        const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
        recorder = new MediaRecorder(stream);
        chunks = [];
        recorder.ondataavailable = (event) => chunks.push(event.data);
        recorder.onstop = async () => {
          stream.getTracks().forEach((track) => track.stop());
          const blob = new Blob(chunks, { type: recorder.mimeType || "audio/webm" });
          const buffer = await blob.arrayBuffer();
          model.set("state", "transcribing");
          model.save_changes();
          model.send({ type: "audio", mime: blob.type }, undefined, [buffer]);
        };
        recorder.start();
        model.set("state", "recording");
        model.set("error", "");
        model.save_changes();
      } catch (err) {
        model.set("error", `Cannot record: ${err.message || err}`);
        model.save_changes();
      }
    };

    button.addEventListener("click", () => {
      if (recorder && recorder.state === "recording") recorder.stop();
      else start();
    });
    const names = ["state", "transcript", "command", "error"];
    for (const name of names) model.on(`change:${name}`, draw);
    draw();
    return () => {
      if (recorder && recorder.state === "recording") recorder.stop();
      for (const name of names) model.off(`change:${name}`, draw);
    };
  },
};
