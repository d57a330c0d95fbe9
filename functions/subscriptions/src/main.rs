use lambda_http::{Error, service_fn};
use tributary::workflow::notify::Subscriptions;

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tributary::telemetry::init();
    let service = Subscriptions::from_env().await?;
    lambda_http::run(service_fn(|request| async {
        Ok::<_, Error>(handler::route(&service, request).await)
    }))
    .await
}
