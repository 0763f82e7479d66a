// A masked input whose value goes to the kernel as a custom message, never as widget state:
// a notebook saved with widget state holds no trace of it. The kernel clears it after use ({t:"clear"}).
function render({ model, el }) {
  const input = document.createElement("input");
  input.type = "password";
  input.autocomplete = "off";
  input.spellcheck = false;
  input.className = "lk-secret";
  input.placeholder = model.get("placeholder");
  input.style.width = "100%";
  const label = document.createElement("label");
  label.textContent = model.get("label");
  label.style.cssText = "display:inline-block;min-width:90px;margin-right:6px;font-size:13px";
  const wrap = document.createElement("div");
  wrap.style.cssText = "display:flex;align-items:center;max-width:560px";
  wrap.append(label, input);
  el.append(wrap);
  const push = () => model.send({ t: "secret", v: input.value });
  input.addEventListener("input", push);
  input.addEventListener("change", push);
  const onMsg = (msg) => {
    if (msg && msg.t === "clear") input.value = "";
  };
  model.on("msg:custom", onMsg);
  model.on("change:placeholder", () => (input.placeholder = model.get("placeholder")));
  return () => model.off("msg:custom", onMsg);
}
export default { render };
