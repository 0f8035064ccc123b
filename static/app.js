// lotline's progressive enhancement: every page works without this file.
// Pressing "/" outside a text field moves the focus to the lot search box, as a scanner user expects.
document.addEventListener("keydown", (event) => {
  const tag = (event.target && event.target.tagName) || "";
  if (event.key === "/" && !["INPUT", "TEXTAREA", "SELECT"].includes(tag)) {
    const box = document.getElementById("site-search");
    if (box) {
      event.preventDefault();
      box.focus();
    }
  }
});
// A form posts once: its submit buttons are disabled after the first submission (the server's
// idempotency key is the real guard).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.method && form.method.toLowerCase() === "post") {
    setTimeout(() => form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; }), 0);
  }
});
