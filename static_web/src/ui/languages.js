// @ts-check
// Languages offered by the picker. Each loads on demand (its own chunk), so a page pays only
// for the language it shows.
export const LANGUAGES = [
  { id: "plaintext", label: "Plain text", ext: "txt", load: async () => [] },
  { id: "python", label: "Python", ext: "py", load: async () => (await import("@codemirror/lang-python")).python() },
  { id: "javascript", label: "JavaScript", ext: "js", load: async () => (await import("@codemirror/lang-javascript")).javascript({ jsx: true }) },
  { id: "typescript", label: "TypeScript", ext: "ts", load: async () => (await import("@codemirror/lang-javascript")).javascript({ typescript: true, jsx: true }) },
  {
    id: "csharp",
    label: "C#",
    ext: "cs",
    load: async () => {
      const [{ StreamLanguage }, { csharp }] = await Promise.all([import("@codemirror/language"), import("@codemirror/legacy-modes/mode/clike")]);
      return StreamLanguage.define(csharp);
    },
  },
  { id: "java", label: "Java", ext: "java", load: async () => (await import("@codemirror/lang-java")).java() },
  { id: "go", label: "Go", ext: "go", load: async () => (await import("@codemirror/lang-go")).go() },
  { id: "rust", label: "Rust", ext: "rs", load: async () => (await import("@codemirror/lang-rust")).rust() },
  { id: "cpp", label: "C / C++", ext: "cpp", load: async () => (await import("@codemirror/lang-cpp")).cpp() },
  { id: "html", label: "HTML", ext: "html", load: async () => (await import("@codemirror/lang-html")).html() },
  { id: "css", label: "CSS", ext: "css", load: async () => (await import("@codemirror/lang-css")).css() },
  { id: "sql", label: "SQL", ext: "sql", load: async () => (await import("@codemirror/lang-sql")).sql() },
  { id: "markdown", label: "Markdown", ext: "md", load: async () => (await import("@codemirror/lang-markdown")).markdown() },
  { id: "json", label: "JSON", ext: "json", load: async () => (await import("@codemirror/lang-json")).json() },
];

export const DEFAULT_LANG = "python";

export function findLanguage(/** @type {string} */ id) {
  return LANGUAGES.find((l) => l.id === id) || LANGUAGES[0];
}
