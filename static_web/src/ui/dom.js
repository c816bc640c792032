// @ts-check
// The pages' elements by id, of the type the page's HTML gives them (a missing one is a bug
// in the page, reported at once rather than as a null later).

/**
 * @template {HTMLElement} [T=HTMLElement]
 * @param {string} id
 * @param {{ new (): T, prototype: T }} [type]  e.g. HTMLInputElement
 * @returns {T}
 */
export function byId(id, type) {
  const el = document.getElementById(id);
  const want = type ?? HTMLElement;
  if (!(el instanceof want)) throw new Error(`the page has no ${want.name} #${id}`);
  return /** @type {T} */ (el);
}
