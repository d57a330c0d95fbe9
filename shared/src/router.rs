//! One route table per HTTP function, keyed by the API Gateway route key (`"POST
//! /deals/{id}/decision"`): exactly the strings of `infra/template.yaml`, so that a test can hold
//! the table, the template and the OpenAPI document against each other.
//!
//! The gateway has already matched the path when a function runs: it passes the route key and
//! the path parameters by name in the event, and the router only looks the key up. Path
//! parameters are read by name with [`crate::http::path_param`].

use std::future::Future;
use std::pin::Pin;

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

use crate::http::{ApiError, respond};

/// What a route's handler returns: a response, or an error [`respond`] maps.
pub type Answer = Result<Response<Body>, ApiError>;

/// A route handler's future, borrowing the function's dependencies and the request.
pub type RouteFuture<'a> = Pin<Box<dyn Future<Output = Answer> + Send + 'a>>;

/// A route handler: an `async fn(&Deps, &Request) -> Answer`, boxed by [`route!`](crate::route).
pub type Handler<D> = for<'a> fn(&'a D, &'a Request) -> RouteFuture<'a>;

/// One row of a route table.
pub struct Route<D: 'static> {
    /// The API Gateway route key: method, a space, the template's path.
    pub key: &'static str,
    pub handler: Handler<D>,
}

/// A row of a route table: `route!("POST /deals", register)` for `async fn register(deps: &D,
/// request: &Request) -> Answer`.
#[macro_export]
macro_rules! route {
    ($key:literal, $handler:path) => {
        $crate::router::Route {
            key: $key,
            handler: |deps, request| ::std::boxed::Box::pin($handler(deps, request)),
        }
    };
}

/// A function's route table.
pub struct Router<D: 'static> {
    routes: &'static [Route<D>],
}

impl<D: 'static> Router<D> {
    pub const fn new(routes: &'static [Route<D>]) -> Self {
        Router { routes }
    }

    /// The route keys this function serves, in table order.
    pub fn keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.routes.iter().map(|route| route.key)
    }

    /// Runs the handler of the request's route; any error becomes its problem+json response.
    pub async fn dispatch(&self, deps: &D, request: &Request) -> Response<Body> {
        respond(self.answer(deps, request).await)
    }

    async fn answer(&self, deps: &D, request: &Request) -> Answer {
        let key = route_key(request);
        match self.routes.iter().find(|route| Some(route.key) == key) {
            Some(route) => (route.handler)(deps, request).await,
            // Only a template route that this table lacks gets here (the route-table test
            // prevents it), or an event not sent by the gateway.
            None => Err(ApiError::NotFound(format!(
                "no route for {} {}",
                request.method(),
                request.uri().path()
            ))),
        }
    }
}

/// The route key API Gateway matched for this request.
pub fn route_key(request: &Request) -> Option<&str> {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.route_key.as_deref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::StatusCode;

    struct Deps {
        greeting: &'static str,
    }

    async fn hello(deps: &Deps, request: &Request) -> Answer {
        let name = crate::http::path_param(request, "name")?;
        Ok(crate::http::json(
            StatusCode::OK,
            &format!("{} {name}", deps.greeting),
        ))
    }

    async fn refuse(_: &Deps, _: &Request) -> Answer {
        Err(ApiError::Forbidden("no".into()))
    }

    static ROUTES: Router<Deps> = Router::new(&[
        crate::route!("GET /hello/{name}", hello),
        crate::route!("POST /hello/{name}", refuse),
    ]);

    fn request(route_key: &str, path: &str, name: &str) -> Request {
        let event = serde_json::json!({
            "version": "2.0", "routeKey": route_key, "rawPath": path, "rawQueryString": "",
            "headers": {}, "pathParameters": {"name": name},
            "requestContext": {
                "accountId": "1", "apiId": "a", "domainName": "x", "domainPrefix": "x",
                "requestId": "r", "routeKey": route_key, "stage": "$default", "time": "",
                "timeEpoch": 0,
                "http": {"method": route_key.split(' ').next().unwrap(), "path": path,
                         "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"}
            },
            "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).expect("an API Gateway event")
    }

    #[tokio::test]
    async fn the_route_key_picks_the_handler_and_parameters_are_read_by_name() {
        let deps = Deps { greeting: "hello" };
        let response = ROUTES
            .dispatch(&deps, &request("GET /hello/{name}", "/hello/ada", "ada"))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body().as_ref(), b"\"hello ada\"");

        let refused = ROUTES
            .dispatch(&deps, &request("POST /hello/{name}", "/hello/ada", "ada"))
            .await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn a_key_not_in_the_table_is_a_404_problem() {
        let deps = Deps { greeting: "hello" };
        let response = ROUTES
            .dispatch(&deps, &request("DELETE /hello/{name}", "/hello/ada", "ada"))
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert_eq!(
            ROUTES.keys().collect::<Vec<_>>(),
            ["GET /hello/{name}", "POST /hello/{name}"]
        );
    }
}
