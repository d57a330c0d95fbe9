// Renders /openapi.json as a browsable page: operations by tag, their parameters, bodies,
// responses with schemas and examples, and a filter. No framework: this page has to load
// from the function alone under a strict content security policy.
"use strict";

const main = document.getElementById("operations");
const filter = document.getElementById("filter");

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function resolve(doc, schema) {
  let seen = 0;
  while (schema && schema.$ref && seen++ < 20) {
    schema = schema.$ref.slice(2).split("/").reduce((node, key) => node && node[key], doc);
  }
  return schema || {};
}

function typeOf(schema) {
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  const type = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type;
  const bits = [type || (schema.oneOf ? "one of" : schema.anyOf ? "any of" : schema.allOf ? "all of" : "any")];
  if (schema.format) bits.push(schema.format);
  if (schema.pattern) bits.push(`/${schema.pattern}/`);
  if (schema.maxLength !== undefined) bits.push(`≤ ${schema.maxLength} chars`);
  if (schema.minimum !== undefined) bits.push(`≥ ${schema.minimum}`);
  if (schema.maximum !== undefined) bits.push(`≤ ${schema.maximum}`);
  if (schema.maxItems !== undefined) bits.push(`≤ ${schema.maxItems} items`);
  return bits.join(", ");
}

// A schema as nested lists, $refs named and resolved, cut at depth 6 (schemas can recurse).
function schemaTree(doc, schema, depth = 0) {
  const name = schema && schema.$ref ? schema.$ref.split("/").pop() : null;
  schema = resolve(doc, schema);
  const head = el("span", { class: "type" }, name ? `${name}: ` : "", typeOf(schema));
  if (depth > 6) return head;
  const rows = [];
  const required = new Set(schema.required || []);
  for (const [prop, sub] of Object.entries(schema.properties || {})) {
    const resolved = resolve(doc, sub);
    rows.push(el("li", {},
      el("code", {}, prop), required.has(prop) ? el("span", { class: "req" }, " required") : null, " ",
      schemaTree(doc, sub, depth + 1),
      resolved.description ? el("div", { class: "desc" }, resolved.description) : null));
  }
  if (schema.items) rows.push(el("li", {}, "items: ", schemaTree(doc, schema.items, depth + 1)));
  for (const key of ["oneOf", "anyOf", "allOf"]) {
    (schema[key] || []).forEach((sub, i) => rows.push(el("li", {}, `${key} ${i + 1}: `, schemaTree(doc, sub, depth + 1))));
  }
  return rows.length ? el("span", {}, head, el("ul", {}, rows)) : head;
}

function example(media) {
  if (!media) return null;
  const value = media.example !== undefined ? media.example
    : media.examples ? Object.values(media.examples)[0].value : undefined;
  return value === undefined ? null
    : el("details", {}, el("summary", {}, "example"), el("pre", {}, JSON.stringify(value, null, 2)));
}

function content(doc, body) {
  return Object.entries(body.content || {}).map(([type, media]) =>
    el("div", { class: "media" }, el("div", { class: "mediatype" }, type),
      media.schema ? schemaTree(doc, media.schema) : null, example(media)));
}

function operation(doc, method, path, op) {
  const params = (op.parameters || []).map((p) => resolve(doc, p));
  const publicRoute = Array.isArray(op.security) && op.security.length === 0;
  const section = el("section", { class: "op", "data-search": `${method} ${path} ${op.summary || ""} ${op.operationId || ""}`.toLowerCase() },
    el("h3", {}, el("span", { class: `method ${method}` }, method.toUpperCase()), " ", el("code", {}, path),
      " ", el("span", { class: "summary" }, op.summary || ""), publicRoute ? el("span", { class: "public" }, "no key") : null),
    op.description ? el("p", { class: "desc" }, op.description) : null);
  if (params.length) {
    section.append(el("h4", {}, "Parameters"), el("table", {},
      el("tr", {}, el("th", {}, "name"), el("th", {}, "in"), el("th", {}, "schema"), el("th", {}, "")),
      params.map((p) => el("tr", {}, el("td", {}, el("code", {}, p.name), p.required ? el("span", { class: "req" }, " required") : null),
        el("td", {}, p.in), el("td", {}, schemaTree(doc, p.schema || {})), el("td", { class: "desc" }, p.description || "")))));
  }
  if (op.requestBody) {
    const body = resolve(doc, op.requestBody);
    section.append(el("h4", {}, "Request body"), ...content(doc, body));
  }
  section.append(el("h4", {}, "Responses"));
  for (const [status, response] of Object.entries(op.responses || {})) {
    const resolved = resolve(doc, response);
    section.append(el("details", { class: `status s${status[0]}` },
      el("summary", {}, el("strong", {}, status), " ", resolved.description || ""), ...content(doc, resolved)));
  }
  return section;
}

function render(doc) {
  document.getElementById("title").textContent = `${doc.info.title} API ${doc.info.version}`;
  document.getElementById("intro").textContent = doc.info.description || "";
  const byTag = new Map((doc.tags || []).map((t) => [t.name, []]));
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      if (!["get", "put", "post", "delete", "patch"].includes(method)) continue;
      const tag = (op.tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(doc, method, path, op));
    }
  }
  const nav = document.getElementById("tags");
  for (const [tag, ops] of byTag) {
    if (!ops.length) continue;
    const description = (doc.tags || []).find((t) => t.name === tag)?.description || "";
    nav.append(el("li", {}, el("a", { href: `#tag-${tag}` }, `${tag} (${ops.length})`)));
    main.append(el("h2", { id: `tag-${tag}` }, tag), el("p", { class: "desc" }, description), ...ops);
  }
}

filter.addEventListener("input", () => {
  const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
  for (const op of main.querySelectorAll(".op")) {
    op.hidden = !words.every((w) => op.dataset.search.includes(w));
  }
});

fetch("/openapi.json")
  .then((response) => {
    if (!response.ok) throw new Error(`GET /openapi.json answered ${response.status}`);
    return response.json();
  })
  .then(render)
  .catch((error) => { main.textContent = `The API document could not be loaded: ${error.message}`; });
