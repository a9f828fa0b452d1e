// Building DOM without innerHTML: every value from the API lands in a text node, never in markup.

/**
 * h("a", {href: "#/x", class: "link", onclick: fn, dataset: {id: 1}}, "text", child, [more])
 * Attributes: `class`, `text`, `dataset`, `on<event>` (functions), booleans (set when true), anything
 * else via setAttribute. Children: nodes, strings, numbers, arrays; null/undefined/false are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = String(value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace all children of `el` (strings or nodes). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A <select> filled with [value, label] pairs, keeping `selected` if it is still offered. */
export function options(select, pairs, selected) {
  fill(select, pairs.map(([value, label]) => h("option", {value, selected: value === selected}, label)));
  if (pairs.some(([value]) => value === selected)) select.value = selected;
  return select;
}
