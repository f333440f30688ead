// DOM helpers: every string coming from agents or users is inserted as text, never as markup.

/**
 * A new element. `props`: className, text, dataset, attrs (attributes), on (event handlers),
 * and any other key set as a property (value, type, checked, disabled, href…).
 * Children: nodes, or strings/numbers appended as text nodes; null/false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "attrs") for (const [name, v] of Object.entries(value)) node.setAttribute(name, v);
    else if (key === "on") for (const [name, handler] of Object.entries(value)) node.addEventListener(name, handler);
    else node[key] = value;
  }
  append(node, children);
  return node;
}

/** Append children (nodes, or strings as text) to `node`. */
export function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace every child of `node`. */
export function replaceChildren(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** An <option> list from [value, label] pairs, `selected` marked. */
export function options(pairs, selected) {
  return pairs.map(([value, label]) => h("option", { value, text: label, selected: value === selected }));
}
