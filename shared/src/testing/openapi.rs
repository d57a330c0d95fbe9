//! The OpenAPI document: `api/openapi.yaml` (the root) and `api/paths/*.yaml` (one file per HTTP
//! function) bundled into `api/openapi.json`, the document the `web` function serves. The
//! tests here fail when the bundle is stale, a `$ref` dangles, or the document and the
//! template's routes differ; `make openapi` rewrites the bundle.

use std::path::Path;

use serde_json::{Map, Value};

/// The root with every path file merged in. Panics, naming the file, on a path operation or a
/// component defined twice.
pub fn bundle() -> Value {
    let root_dir = super::workspace_root().join("api");
    let mut document = read_yaml(&root_dir.join("openapi.yaml"));
    let mut files: Vec<_> = std::fs::read_dir(root_dir.join("paths"))
        .expect("api/paths/ is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for file in files {
        let part = read_yaml(&file);
        let name = file.display().to_string();
        if let Some(paths) = part.get("paths").and_then(Value::as_object) {
            for (path, item) in paths {
                let target = document["paths"]
                    .as_object_mut()
                    .expect("the root has paths")
                    .entry(path.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                merge_new_keys(target, item, &format!("{name}: path {path}"));
            }
        }
        if let Some(components) = part.get("components").and_then(Value::as_object) {
            for (kind, entries) in components {
                let target = document["components"]
                    .as_object_mut()
                    .expect("the root has components")
                    .entry(kind.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                merge_new_keys(target, entries, &format!("{name}: components.{kind}"));
            }
        }
    }
    document
}

fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{} is readable: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()))
}

fn merge_new_keys(target: &mut Value, source: &Value, what: &str) {
    let target = target
        .as_object_mut()
        .unwrap_or_else(|| panic!("{what}: not a map"));
    for (key, value) in source
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not a map"))
    {
        assert!(
            target.insert(key.clone(), value.clone()).is_none(),
            "{what}: {key} is defined twice"
        );
    }
}

/// The bundle as it is committed: pretty JSON with a final newline.
pub fn bundle_text() -> String {
    let mut text = serde_json::to_string_pretty(&bundle()).expect("JSON");
    text.push('\n');
    text
}

/// Every `$ref` of `value` that does not resolve inside `document`.
pub fn dangling_refs(document: &Value) -> Vec<String> {
    fn walk(value: &Value, document: &Value, dangling: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    let resolved = target
                        .strip_prefix('#')
                        .and_then(|pointer| document.pointer(pointer));
                    if resolved.is_none() {
                        dangling.push(target.clone());
                    }
                }
                map.values().for_each(|v| walk(v, document, dangling));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, document, dangling)),
            _ => {}
        }
    }
    let mut dangling = Vec::new();
    walk(document, document, &mut dangling);
    dangling.sort();
    dangling.dedup();
    dangling
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::routes::{document_route_keys, template_routes};
    use std::collections::BTreeSet;

    #[test]
    fn the_served_bundle_is_current() {
        let path = crate::testing::workspace_root().join("api/openapi.json");
        let fresh = bundle_text();
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &fresh).expect("api/openapi.json is writable");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "api/openapi.json is not the bundle of api/openapi.yaml and api/paths/: run `make openapi`"
        );
    }

    #[test]
    fn every_ref_resolves() {
        let document = bundle();
        assert_eq!(dangling_refs(&document), Vec::<String>::new());
    }

    #[test]
    fn the_document_has_exactly_the_templates_routes() {
        let template: BTreeSet<String> = template_routes().iter().map(|r| r.key.clone()).collect();
        let documented = document_route_keys();
        let undocumented: Vec<_> = template.difference(&documented).collect();
        let not_routes: Vec<_> = documented.difference(&template).collect();
        assert!(
            undocumented.is_empty() && not_routes.is_empty(),
            "template routes missing from the document: {undocumented:?}; \
             documented operations that are no template route: {not_routes:?}"
        );
    }

    #[test]
    fn public_routes_and_only_they_waive_the_api_key() {
        let document = bundle();
        for route in template_routes() {
            let (method, path) = route.key.split_once(' ').expect("a route key");
            let operation = &document["paths"][path][method.to_lowercase()];
            let waived = operation["security"].as_array().is_some_and(Vec::is_empty);
            assert_eq!(
                waived, !route.authenticated,
                "{}: the document's security disagrees with the template's Auth",
                route.key
            );
        }
    }

    #[test]
    fn a_dangling_ref_is_found() {
        let document = serde_json::json!({
            "components": {"schemas": {"A": {"type": "string"}}},
            "paths": {"/a": {"get": {"x": {"$ref": "#/components/schemas/A"},
                                     "y": {"$ref": "#/components/schemas/B"}}}}
        });
        assert_eq!(dangling_refs(&document), ["#/components/schemas/B"]);
    }
}
