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
    setTimeout(() => {
      if (!event.defaultPrevented) {
        form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; });
      }
    }, 0);
  }
});
// Confirm before destroying: a form with data-confirm asks in a dialog, then tells the server it
// was confirmed (without a script the server asks on a page of its own).
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.dataset && form.dataset.confirm;
  if (!question) {
    return;
  }
  if (!window.confirm(question)) {
    event.preventDefault();
    return;
  }
  let mark = form.querySelector("input[name=confirmed]");
  if (!mark) {
    mark = document.createElement("input");
    mark.type = "hidden";
    mark.name = "confirmed";
    form.appendChild(mark);
  }
  mark.value = "yes";
}, true);
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
// A refused form: the banner at the top names each problem; the first field it names gets the
// focus (the banner's links jump there without a script).
const refusal = document.getElementById("refusal");
if (refusal) {
  const first = refusal.querySelector("a[data-field]");
  const field = first && document.getElementById(first.dataset.field);
  const target = field || (first && document.getElementById(first.getAttribute("href").slice(1)));
  if (target) {
    if (field) {
      field.focus({ preventScroll: true });
    }
    target.scrollIntoView({ block: "center" });
  }
}
// Scanner-first forms. A keyboard-wedge scanner types the code and ends with Enter (or Tab, which
// moves on by itself): Enter in a scanned field never submits a half-filled line, it moves to the
// field named by data-next (the quantity), or to the first required field still empty. Enter in
// a field with data-enter presses the button it names instead of the form's first one.
document.addEventListener("keydown", (event) => {
  const field = event.target;
  if (event.key !== "Enter" || !field || !field.matches || !field.matches("input")) {
    return;
  }
  if (field.dataset.enter) {
    const button = document.getElementById(field.dataset.enter);
    if (button) {
      event.preventDefault();
      button.click();
    }
    return;
  }
  const next = field.dataset.next && document.getElementById(field.dataset.next);
  const scanned = field.hasAttribute("data-scan");
  if (!next && !scanned) {
    return;
  }
  if (scanned && !field.value.trim()) {
    event.preventDefault();
    return;
  }
  const form = field.form;
  const empty = form && [...form.querySelectorAll("input[required]:not([type=hidden]), select[required]")]
    .find((e) => e !== field && !e.value.trim());
  const target = next || empty;
  if (target) {
    event.preventDefault();
    target.focus();
    if (target.select) {
      target.select();
    }
  }
});
