/*
 * The demo page's "Try" questions: a click asks the question in the chat widget. Calls pushed
 * onto window.CiteQA before widget.js has loaded are replayed by it, so the order in which the
 * two async scripts arrive does not matter.
 */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var target = event.target;
    var button = target && target.closest ? target.closest("button[data-question]") : null;
    if (!button) return;
    window.CiteQA = window.CiteQA || [];
    window.CiteQA.push(["ask", button.getAttribute("data-question")]);
  });
})();
