"""The page's styles and its small script, for the markup `qa.render` writes.

The styles set the colours (WCAG AA on the page's background, light and dark), the target sizes
(24 px, 44 px on touch screens) and the phone layout; the script makes a citation marker lead to
exactly its sentence and back, and makes "copy" give plain text. Static text only: no gradio,
no rendering.
"""

from __future__ import annotations

# Styles for the markup above. Text colours are set here, not taken from the theme, because the
# theme's greys and orange fail WCAG AA on white (1.8:1 and 2.7:1): every colour below reaches
# 4.5:1 on the page's background in light and in dark mode (tests/test_browser.py measures it).
CSS = """
:root { --qa-muted: #4b5563; --qa-link: #c2410c; --qa-link-strong: #9a3412; --qa-on-accent: #ffffff; }
.dark { --qa-muted: #d1d5db; --qa-link: #fdba74; --qa-link-strong: #fed7aa; }
#qa-top { align-items: center; }
#qa-header h1 { margin: 0 0 4px 0; font-size: 1.5rem; }
#qa-header p { margin: 0; color: var(--qa-muted); }
#qa-header p.qa-collection { margin-top: 2px; font-weight: 600; }
.gradio-container .info-text { color: var(--qa-muted); }
#qa-input textarea::placeholder { color: #6b7280; }
.dark #qa-input textarea::placeholder { color: #9ca3af; }
#qa-lang label:has(input:focus-visible) { outline: 3px solid var(--qa-link); outline-offset: 2px; }
.gradio-container button.primary { background: #c2410c; color: #ffffff; border-color: #c2410c; }
.gradio-container button.primary:hover { background: #9a3412; border-color: #9a3412; }
.gradio-container button.stop { background: #b91c1c; color: #ffffff; border-color: #b91c1c; }
.qa-user { white-space: normal; }
.qa-answer .qa-meta { display: flex; flex-wrap: wrap; gap: 6px 10px; align-items: center; margin-bottom: 6px;
  font-size: 0.9em; }
.qa-badge { border-radius: 999px; padding: 1px 10px; font-weight: 600; border: 1px solid currentColor; }
.qa-badge.qa-answered { color: #15803d; }
.qa-badge.qa-partial { color: #b45309; }
.qa-badge.qa-not_found { color: #b91c1c; }
.dark .qa-badge.qa-answered { color: #86efac; }
.dark .qa-badge.qa-partial { color: #fcd34d; }
.dark .qa-badge.qa-not_found { color: #fca5a5; }
.qa-searched, .qa-scope { color: var(--qa-muted); }
.qa-text { line-height: 1.7; }
/* The English gist under a quoted Chinese sentence: set apart from the quote (smaller, muted),
   and its label says it is a dictionary gloss, not a translation. */
.qa-gist { display: block; font-size: 0.85em; line-height: 1.5; color: var(--qa-muted); margin: 0 0 6px 0;
  padding-left: 10px; border-left: 2px solid var(--border-color-primary); }
.qa-gist-label { font-style: italic; }
.qa-streaming .qa-text::after { content: "▍"; margin-left: 2px; animation: qa-blink 1s steps(1) infinite; }
@keyframes qa-blink { 50% { opacity: 0; } }
/* A marker is a target of its own: at least 24 px (44 px where fingers tap), without making the
   line taller (the negative margin gives the extra height back to the line box). */
a.qa-cite { display: inline-block; min-width: 24px; min-height: 24px; line-height: 24px; text-align: center;
  text-decoration: none; font-weight: 700; padding: 0 2px; border-radius: 4px; color: var(--qa-link);
  cursor: pointer; vertical-align: baseline; }
a.qa-cite:hover, a.qa-cite:focus-visible { background: var(--color-accent-soft); color: var(--qa-link-strong);
  outline: 2px solid var(--qa-link); outline-offset: 0; }
.qa-below, .qa-plain { display: none; }
.qa-below a { display: inline-block; min-height: 44px; line-height: 44px; color: var(--qa-link); font-weight: 600;
  text-decoration: none; }
.qa-maybe { margin-top: 8px; }
.qa-maybe ul { list-style: none; margin: 4px 0 0 0; padding: 0; }
.qa-maybe li { margin: 2px 0; }
.qa-snippet { color: var(--qa-muted); }
.qa-wait { color: var(--qa-muted); font-style: italic; }
/* No thumbs under a message that is not a finished answer (the "searching" placeholder, an error). */
#qa-chat .bot-row:not(:has(.qa-done)) + .message-buttons { display: none; }
.qa-sources { display: flex; flex-direction: column; gap: 10px; }
.qa-empty { color: var(--qa-muted); padding: 16px; border: 1px dashed var(--border-color-primary);
  border-radius: 8px; }
.qa-group-q { font-size: 0.9em; color: var(--qa-muted); margin-bottom: 2px; }
.qa-group-h { font-weight: 700; margin-bottom: 6px; }
details.qa-earlier > summary { cursor: pointer; color: var(--qa-muted); font-size: 0.95em; min-height: 24px; }
.qa-src { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px; margin-bottom: 8px;
  background: var(--block-background-fill); scroll-margin: 12px; transition: box-shadow .2s, border-color .2s; }
.qa-src.qa-hover, .qa-src.qa-flash { border-color: var(--qa-link);
  box-shadow: 0 0 0 3px var(--color-accent-soft); }
.qa-src-head { display: flex; gap: 8px; align-items: baseline; }
.qa-num { flex: none; min-width: 1.6em; padding: 0 4px; text-align: center; border-radius: 6px; font-weight: 700;
  background: #c2410c; color: var(--qa-on-accent); font-size: 0.85em; }
.qa-doc { font-weight: 600; }
.qa-file { font-weight: normal; font-size: 0.85em; color: var(--qa-muted); overflow-wrap: anywhere; }
.qa-sec { font-size: 0.9em; color: var(--qa-muted); margin: 2px 0 0 0; }
.qa-passage, .qa-fold { margin-top: 6px; line-height: 1.7; font-size: 15px; }
.qa-fold > summary { cursor: pointer; list-style: none; }
.qa-fold > summary::-webkit-details-marker { display: none; }
.qa-more, .qa-less { display: inline-block; margin-left: 6px; font-size: 14px; font-weight: 600;
  color: var(--qa-link); min-height: 24px; }
.qa-fold[open] .qa-excerpt, .qa-fold[open] .qa-more, .qa-fold:not([open]) .qa-less { display: none; }
/* Quoted sentences: a pale tint with an underline, each with its marker's number; the one whose
   marker was followed is strong yellow, so a list answer does not turn the card into one block. */
.qa-src mark.qa-q { background: #fffbeb; color: #1f2937; padding: 0 1px; border-radius: 2px;
  text-decoration: underline dotted #b45309; text-underline-offset: 4px; }
.qa-src mark.qa-q[data-m]::after { content: attr(data-m); font-size: 0.75em; vertical-align: super;
  margin-left: 2px; font-weight: 700; color: #9a3412; }
.qa-src mark.qa-q.qa-current { background: #fde047; text-decoration: none; outline: 2px solid #b45309;
  outline-offset: 1px; }
.qa-src mark.qa-q:focus { outline: 3px solid #9a3412; outline-offset: 1px; }
.qa-back { display: inline-block; margin-top: 6px; min-height: 24px; line-height: 24px; font-size: 14px;
  color: var(--qa-link); text-decoration: none; font-weight: 600; }
.qa-notice { padding: 8px 12px; border-radius: 8px; margin-bottom: 8px; }
.qa-doclist { max-height: 360px; overflow: auto; border: 1px solid var(--border-color-primary); border-radius: 8px; }
.qa-doclist table { width: 100%; border-collapse: collapse; font-size: 0.9em; }
.qa-doclist th { position: sticky; top: 0; background: var(--block-background-fill); text-align: left; }
.qa-doclist th, .qa-doclist td { padding: 4px 8px; border-bottom: 1px solid var(--border-color-primary); }
.qa-doc-name { overflow-wrap: anywhere; }
.qa-doc-chunks { text-align: right; }
.qa-notice.qa-ok { background: var(--color-accent-soft); }
.qa-notice.qa-bad, p.qa-bad { background: #fee2e2; color: #991b1b; }
/* The upload box's own text comes from the browser's language, not the page's: ours instead,
   keyed on <html lang> (set by the page script). Both languages are written as html[lang] rules:
   Gradio also adds a copy of each rule under its container, and such a copy of an unkeyed rule
   would outrank the keyed one. */
html[lang] #qa-files button .wrap { font-size: 0; }
html[lang] #qa-files button .wrap::after { font-size: 16px; content: "拖放文件到这里，或点击选择"; }
html[lang="en"] #qa-files button .wrap::after { content: "Drop files here, or click to choose"; }
#qa-chat .message-buttons button { min-width: 24px; min-height: 24px; }
/* Touch screens: fingers need 44 px targets. */
@media (pointer: coarse), (max-width: 640px) {
  a.qa-cite { min-width: 44px; min-height: 44px; line-height: 44px; margin: -10px 0; }
  #qa-chat .message-buttons button { min-width: 44px; min-height: 44px; }
  .qa-back, .qa-more, .qa-less { min-height: 44px; line-height: 44px; }
}
/* Phones: the sources sit under the chat, so an answer says so; the header and the language
   switch share a row, and the chat is short enough for the question box and 发送 to show. */
@media (max-width: 700px) {
  .qa-below { display: block; }
}
@media (max-width: 640px) {
  #qa-top { flex-wrap: nowrap; gap: 6px; align-items: flex-start; }
  #qa-top > #qa-header { flex: 1 1 auto !important; min-width: 0 !important; }
  #qa-top > .form:has(#qa-lang) { flex: 0 0 auto !important; min-width: 0 !important; width: auto !important; }
  #qa-top > .form:has(#qa-lang) { background: none; border: none; box-shadow: none; }
  #qa-lang { min-width: 0 !important; width: auto !important; overflow: visible !important; padding: 0 !important; }
  #qa-lang .wrap { flex-direction: column; gap: 4px; width: max-content; }
  #qa-lang label { padding: 2px 8px; min-height: 32px; font-size: 14px; }
  #qa-header h1 { font-size: 1.25rem; }
  #qa-header p { font-size: 14px; }
  #qa-header p:not(.qa-collection) { display: none; }
  #qa-docs .info, #qa-docs [data-testid="block-info"] + div { display: none; }
  #qa-ask-row { flex-wrap: nowrap; gap: 6px; }
  #qa-ask-row > .form { flex: 1 1 auto !important; min-width: 0 !important; }
  #qa-chat { height: min(420px, 46vh) !important; }
  #qa-ask-row > button { flex: 0 0 auto !important; min-width: 56px !important; min-height: 44px;
    padding: 0 10px; }
  .qa-passage, .qa-fold { font-size: 16px; }
}
@media (min-width: 900px) {
  #qa-sources-col { position: sticky; top: 8px; align-self: flex-start; max-height: calc(100vh - 16px);
    overflow-y: auto; }
}
"""

# Marker behaviour: a click on [m] lights up exactly the sentence it quotes (the others of the
# card stay pale), opens whatever folds it (an earlier answer's group, a long passage), scrolls
# it into view and moves the focus there; "back to the answer" returns to the marker. Hovering
# highlights the card. "Copy" on an answer puts its plain text (answer, [m], numbered sources)
# on the clipboard instead of the message's HTML. Document-level listeners, because the chat
# re-renders its messages.
HEAD = """
<script>
(function () {
  var last = {};  // answer turn -> the marker last followed in it
  function target(a) {
    var id = (a.getAttribute("href") || "").replace(/^#/, "");
    return id ? document.getElementById(id) : null;
  }
  function cite(ev) { return ev.target && ev.target.closest ? ev.target.closest("a.qa-cite") : null; }
  function unfold(el) {
    for (var d = el.closest("details"); d; d = d.parentElement ? d.parentElement.closest("details") : null) {
      d.open = true;
    }
  }
  function follow(a) {
    var el = target(a); if (!el) return false;
    var card = el.closest(".qa-src") || el;
    unfold(el);
    document.querySelectorAll("mark.qa-current").forEach(function (m) { m.classList.remove("qa-current"); });
    if (el.tagName === "MARK") el.classList.add("qa-current");
    var turn = (el.id.match(/^a(\\d+)-/) || [])[1];
    if (turn) last[turn] = a;
    el.scrollIntoView({block: "center"});
    if (el.focus) el.focus({preventScroll: true});
    card.classList.remove("qa-flash"); void card.offsetWidth; card.classList.add("qa-flash");
    setTimeout(function () { card.classList.remove("qa-flash"); }, 2000);
    return true;
  }
  function back(link) {
    var turn = link.getAttribute("data-turn");
    var answer = document.querySelector("#qa-chat .qa-text.qa-t" + turn);
    if (!answer) return;
    var a = last[turn] && document.contains(last[turn]) ? last[turn] : answer.querySelector("a.qa-cite");
    (a || answer).scrollIntoView({block: "center"});
    if (a) a.focus({preventScroll: true});
  }
  document.addEventListener("click", function (ev) {
    var t = ev.target && ev.target.closest ? ev.target : null; if (!t) return;
    var a = cite(ev), link = t.closest("a.qa-back"), below = t.closest(".qa-below a");
    if (a && follow(a)) { ev.preventDefault(); ev.stopPropagation(); }
    else if (link) { ev.preventDefault(); back(link); }
    else if (below) {
      ev.preventDefault();
      var group = document.querySelector("#qa-sources .qa-latest") || document.getElementById("qa-sources");
      if (group) group.scrollIntoView({block: "start"});
    }
  }, true);
  document.addEventListener("mouseover", function (ev) {
    var a = cite(ev); if (!a) return;
    var el = target(a); if (!el) return;
    var card = el.closest(".qa-src") || el;
    card.classList.add("qa-hover");
    if (window.matchMedia("(min-width: 900px)").matches && !card.closest("details:not([open])")) {
      card.scrollIntoView({behavior: "smooth", block: "nearest"});
    }
  });
  document.addEventListener("mouseout", function (ev) {
    var a = cite(ev); if (!a) return;
    var el = target(a); if (!el) return;
    (el.closest(".qa-src") || el).classList.remove("qa-hover");
  });
  // The chat's copy button hands over the message as stored, which is our HTML.
  if (navigator.clipboard && navigator.clipboard.writeText) {
    var write = navigator.clipboard.writeText.bind(navigator.clipboard);
    navigator.clipboard.writeText = function (text) {
      try {
        if (typeof text === "string" && /class="qa-/.test(text)) {
          var doc = new DOMParser().parseFromString(text, "text/html");
          var plain = doc.querySelector(".qa-plain");
          text = plain ? plain.textContent : doc.body.textContent;
        }
      } catch (e) { /* copy what was given */ }
      return write(text);
    };
  }
})();
</script>
"""
