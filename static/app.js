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
// Back to a page kept whole by the browser (the back button after posting): its buttons work
// again. Posting the same form again is safe: it carries the same idempotency key, and the
// server answers with what the first post recorded.
window.addEventListener("pageshow", (event) => {
  if (event.persisted) {
    document.querySelectorAll("form button[type=submit][disabled]").forEach((b) => { b.disabled = false; });
  }
});
// The lot-number rule form previews the next codes as the pattern is typed (the "Show preview"
// button does the same without a script).
const ruleForm = document.getElementById("rule-form");
if (ruleForm) {
  let timer = null;
  const refresh = () => {
    const data = new FormData(ruleForm);
    data.delete("password");
    data.delete("csrf_token");
    const query = new URLSearchParams(data).toString();
    fetch("/admin/lot-rules/preview?" + query, { headers: { "x-fragment": "1" }, credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : null))
      .then((html) => {
        const box = document.getElementById("preview");
        if (html && box) {
          box.outerHTML = html;
        }
      })
      .catch(() => {});
  };
  ruleForm.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
}
// Print buttons (the browser's own print works the same without a script).
document.querySelectorAll("[data-print]").forEach((b) => b.addEventListener("click", () => window.print()));
