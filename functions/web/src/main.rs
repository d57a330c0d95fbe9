use lambda_http::{Error, service_fn};

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tributary::telemetry::init();
    let site = handler::Site::new();
    lambda_http::run(service_fn(|request| async {
        Ok::<_, Error>(handler::route(&site, request).await)
    }))
    .await
}
