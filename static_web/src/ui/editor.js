// @ts-check
// The CodeMirror editor both pages use, mounted inside a shadow root: CodeMirror then installs
// its styles as constructed (adopted) style sheets instead of <style> elements, so the
// Content-Security-Policy needs no 'unsafe-inline' for styles either.
import { Compartment, EditorState } from "@codemirror/state";
import { EditorView, drawSelection, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers } from "@codemirror/view";
import { bracketMatching, defaultHighlightStyle, indentOnInput, syntaxHighlighting } from "@codemirror/language";
import { oneDark } from "@codemirror/theme-one-dark";
import { findLanguage } from "./languages.js";

const sizing = EditorView.theme({
  "&": { height: "100%", fontSize: "14px" },
  ".cm-scroller": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace", lineHeight: "1.5" },
  "&.cm-focused": { outline: "2px solid #4c8dff", outlineOffset: "-2px" },
});

const light = [EditorView.theme({ "&": { backgroundColor: "#ffffff", color: "#1f2328" } }, { dark: false }), syntaxHighlighting(defaultHighlightStyle)];
const dark = oneDark;

/**
 * @param {object} o
 * @param {HTMLElement} o.host  element that receives the shadow root
 * @param {string} o.doc
 * @param {boolean} o.readOnly
 * @param {string} o.label  accessible name of the editing area
 * @param {"light"|"dark"} o.theme
 * @param {import("@codemirror/state").Extension[]} [o.extensions]  page-specific extensions (keymaps, listeners, fields)
 */
export function createEditor({ host, doc, readOnly, label, theme, extensions = [] }) {
  const root = host.attachShadow({ mode: "open" });
  const themeSlot = new Compartment();
  const langSlot = new Compartment();
  const base = [
    lineNumbers(),
    drawSelection(),
    bracketMatching(),
    sizing,
    themeSlot.of(theme === "dark" ? dark : light),
    langSlot.of([]),
    EditorView.contentAttributes.of({ "aria-label": label }),
  ];
  const editing = readOnly
    ? [EditorState.readOnly.of(true), EditorView.editable.of(false), EditorView.contentAttributes.of({ tabindex: "0", "aria-readonly": "true" })]
    : [highlightActiveLineGutter(), highlightActiveLine(), indentOnInput()];
  const view = new EditorView({
    root,
    parent: root,
    state: EditorState.create({ doc, extensions: [base, editing, extensions] }),
  });
  let langToken = 0;
  return {
    view,
    setTheme(/** @type {"light" | "dark"} */ t) {
      view.dispatch({ effects: themeSlot.reconfigure(t === "dark" ? dark : light) });
    },
    async setLanguage(/** @type {string} */ id) {
      const token = ++langToken;
      /** @type {import("@codemirror/state").Extension} */
      let support = [];
      try {
        support = await findLanguage(id).load();
      } catch (e) {
        console.warn("language failed to load", id, e);
      }
      if (token === langToken) view.dispatch({ effects: langSlot.reconfigure(support) });
    },
  };
}

export { keymap, EditorView };
