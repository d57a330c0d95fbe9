//! The HTTP routes of `infra/template.yaml`, for handler tests: the route key and path parameters
//! API Gateway would pass for a concrete path, and each function's routes for the route-table test.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_yaml::Value;

/// One `HttpApi` event of the template.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TemplateRoute {
    /// The function's binary (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    /// `"POST /deals/{id}/decision"`.
    pub key: String,
    /// False for `Auth: {Authorizer: NONE}`.
    pub authenticated: bool,
}

impl TemplateRoute {
    fn method(&self) -> &str {
        self.key.split_once(' ').map_or("", |(method, _)| method)
    }

    fn path(&self) -> &str {
        self.key.split_once(' ').map_or("", |(_, path)| path)
    }
}

/// Every HTTP route of the template, sorted by key.
pub fn template_routes() -> &'static [TemplateRoute] {
    static ROUTES: OnceLock<Vec<TemplateRoute>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let text = std::fs::read_to_string(super::workspace_root().join("infra/template.yaml"))
            .expect("infra/template.yaml is readable");
        let template: Value = serde_yaml::from_str(&text).expect("infra/template.yaml is YAML");
        let resources = template["Resources"]
            .as_mapping()
            .expect("the template has Resources");
        let mut routes = Vec::new();
        for resource in resources.values() {
            if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
                continue;
            }
            let binary = resource["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .expect("every function names its binary")
                .to_string();
            let Some(events) = resource["Properties"]["Events"].as_mapping() else {
                continue;
            };
            for event in events.values() {
                if event["Type"].as_str() != Some("HttpApi") {
                    continue;
                }
                let properties = &event["Properties"];
                let text = |name: &str| {
                    properties[name]
                        .as_str()
                        .unwrap_or_else(|| panic!("an HttpApi event of {binary} has no {name}"))
                };
                routes.push(TemplateRoute {
                    binary: binary.clone(),
                    key: format!("{} {}", text("Method").to_uppercase(), text("Path")),
                    authenticated: properties["Auth"]["Authorizer"].as_str() != Some("NONE"),
                });
            }
        }
        routes.sort();
        routes
    })
}

/// The route keys of one function's template events.
pub fn template_route_keys(binary: &str) -> BTreeSet<String> {
    template_routes()
        .iter()
        .filter(|route| route.binary == binary)
        .map(|route| route.key.clone())
        .collect()
}

/// The template route API Gateway matches for `method path` (literal segments before
/// parameters, as the gateway does), and its path parameters.
pub fn match_route(method: &str, path: &str) -> Option<(&'static str, serde_json::Value)> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    template_routes()
        .iter()
        .filter(|route| route.method() == method)
        .filter_map(|route| {
            let pattern: Vec<&str> = route.path().trim_matches('/').split('/').collect();
            if pattern.len() != segments.len() {
                return None;
            }
            let mut parameters = serde_json::Map::new();
            let mut literals = 0;
            for (expected, actual) in pattern.iter().zip(&segments) {
                match expected.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) if !actual.is_empty() => {
                        parameters.insert(name.to_string(), (*actual).into());
                    }
                    Some(_) => return None,
                    None if expected == actual => literals += 1,
                    None => return None,
                }
            }
            Some((literals, route.key.as_str(), parameters))
        })
        .max_by_key(|(literals, _, _)| *literals)
        .map(|(_, key, parameters)| (key, serde_json::Value::Object(parameters)))
}

/// The operations of the bundled OpenAPI document (`api/openapi.json`) as route keys.
pub fn document_route_keys() -> BTreeSet<String> {
    let path = super::workspace_root().join("api/openapi.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} is readable ({e}); run `make openapi`", path.display()));
    let document: serde_json::Value =
        serde_json::from_str(&text).expect("api/openapi.json is JSON");
    let mut keys = BTreeSet::new();
    for (path, item) in document["paths"]
        .as_object()
        .expect("the document has paths")
    {
        for method in item.as_object().expect("a path item").keys() {
            if ["get", "put", "post", "delete", "patch", "head", "options"]
                .contains(&method.as_str())
            {
                keys.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    keys
}

/// Fails unless `table` (a function's route table) holds exactly the template's routes of
/// `binary`, and each of them is an operation of the OpenAPI document.
pub fn assert_route_table<'a>(binary: &str, table: impl IntoIterator<Item = &'a str>) {
    let table: BTreeSet<String> = table.into_iter().map(str::to_string).collect();
    let template = template_route_keys(binary);
    let no_handler: Vec<_> = template.difference(&table).collect();
    let not_in_template: Vec<_> = table.difference(&template).collect();
    assert!(
        no_handler.is_empty() && not_in_template.is_empty(),
        "{binary}: template routes without a handler: {no_handler:?}; \
         handler routes not in the template: {not_in_template:?}"
    );
    let documented = document_route_keys();
    let undocumented: Vec<_> = table.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "{binary}: routes missing from api/openapi.json: {undocumented:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_concrete_path_finds_its_route_and_named_parameters() {
        let (key, parameters) = match_route("POST", "/deals/dl_1/decision").unwrap();
        assert_eq!(key, "POST /deals/{id}/decision");
        assert_eq!(parameters, serde_json::json!({"id": "dl_1"}));
        let (key, parameters) =
            match_route("POST", "/partners/p1/documents/tax_form/review").unwrap();
        assert_eq!(key, "POST /partners/{id}/documents/{type}/review");
        assert_eq!(
            parameters,
            serde_json::json!({"id": "p1", "type": "tax_form"})
        );
        assert_eq!(
            match_route("POST", "/partners/applications").unwrap().0,
            "POST /partners/applications"
        );
        assert_eq!(match_route("PATCH", "/deals"), None);
        assert_eq!(match_route("GET", "/deals/x/y/z"), None);
    }

    /// The HTTP samples in events/ (for `cargo lambda invoke` and the handler tests) carry the
    /// route key and path parameters the gateway would send for their method and path: the
    /// route tables dispatch on that key.
    #[test]
    fn every_http_sample_event_carries_its_routes_key() {
        let dir = super::super::workspace_root().join("events");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("events/ is readable") {
            let path = entry.expect("an entry").path();
            let text = std::fs::read_to_string(&path).expect("a readable sample");
            let event: serde_json::Value = serde_json::from_str(&text).expect("a JSON sample");
            let (Some(key), Some(method), Some(raw_path)) = (
                event["routeKey"].as_str(),
                event["requestContext"]["http"]["method"].as_str(),
                event["rawPath"].as_str(),
            ) else {
                continue;
            };
            let name = path.display();
            let (expected, parameters) = match_route(method, raw_path)
                .unwrap_or_else(|| panic!("{name}: {method} {raw_path} is no template route"));
            assert_eq!(key, expected, "{name}: routeKey");
            assert_eq!(
                event["requestContext"]["routeKey"], expected,
                "{name}: requestContext.routeKey"
            );
            let given = match &event["pathParameters"] {
                serde_json::Value::Null => serde_json::json!({}),
                other => other.clone(),
            };
            assert_eq!(given, parameters, "{name}: pathParameters");
            checked += 1;
        }
        assert!(checked >= 9, "only {checked} HTTP samples found in events/");
    }
}
