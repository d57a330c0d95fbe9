//! Test harness: real AWS SDK clients against a real moto server.
//!
//! The server comes from `TRIBUTARY_TEST_ENDPOINT` when set, otherwise one is started on a free
//! loopback port, once per test process, from the project's virtualenv (`make setup` creates it).
//! A test that needs it and cannot get it fails with the reason: it never skips.
//! Each test gets its own table and queues, so tests run in parallel without sharing state.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_config::{Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use serde_yaml::Value;

use crate::store::DynamoStore;

pub mod fuzz;
pub mod openapi;
mod requests;
pub mod routes;
pub use requests::{api_request_raw, assert_not_server_error, describe_request, send_user_request};

/// The workspace root (this crate lives in `<root>/shared`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("shared/ has a parent")
        .to_path_buf()
}

/// The moto endpoint for this test process.
pub fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| match std::env::var("TRIBUTARY_TEST_ENDPOINT") {
        Ok(url) if !url.is_empty() => url,
        _ => start_moto(),
    })
}

fn start_moto() -> String {
    let root = workspace_root();
    let venv = std::env::var_os("TRIBUTARY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv"));
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "tests need moto's server, but {} does not exist: run `make setup` (or set TRIBUTARY_TEST_ENDPOINT)",
        python.display()
    );
    let mut child = Command::new(&python)
        .arg(root.join("infra/local/serve_moto.py"))
        .args([
            "--port",
            "0",
            "--parent-pid",
            &std::process::id().to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .expect("moto prints its URL");
    let url = line.trim().to_string();
    assert!(
        url.starts_with("http://"),
        "moto did not start (printed {line:?})"
    );
    // The child watches this process and exits with it; it must outlive every test.
    std::mem::forget(child);
    url
}

/// SDK configuration for moto: explicit endpoint, region and dummy credentials, so that nothing
/// in the developer's environment can point a test at a real account.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_for(endpoint()).await
}

/// The same, for a given server (the end-to-end tests use the local stack's).
///
/// moto answers some concurrent transactions with a 500 (it snapshots its tables for rollback
/// while another thread writes them); more retries than AWS needs ride that out.
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    crate::aws::loader()
        .endpoint_url(endpoint)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(10))
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}

fn unique_name(kind: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "test-{kind}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A fresh table with the key schema and indexes of `Table` in infra/template.yaml.
pub async fn table() -> DynamoStore {
    let client = crate::aws::dynamodb(&sdk_config().await);
    let name = unique_name("table");
    create_table_from_template(&client, &name).await;
    DynamoStore::new(client, name)
}

/// Creates `name` from the template's `Table` resource (keys and GSIs; the rest is AWS-only).
pub async fn create_table_from_template(client: &aws_sdk_dynamodb::Client, name: &str) {
    let template = std::fs::read_to_string(workspace_root().join("infra/template.yaml"))
        .expect("infra/template.yaml is readable");
    let template: Value = serde_yaml::from_str(&template).expect("infra/template.yaml is YAML");
    let props = &template["Resources"]["Table"]["Properties"];
    assert!(
        props.is_mapping(),
        "infra/template.yaml has no Resources.Table"
    );
    let text = |v: &Value| {
        v.as_str()
            .expect("a string in the table definition")
            .to_string()
    };
    let key_schema = |v: &Value| -> Vec<KeySchemaElement> {
        v.as_sequence()
            .expect("KeySchema is a list")
            .iter()
            .map(|k| {
                KeySchemaElement::builder()
                    .attribute_name(text(&k["AttributeName"]))
                    .key_type(KeyType::from(text(&k["KeyType"]).as_str()))
                    .build()
                    .expect("valid key schema")
            })
            .collect()
    };
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&props["KeySchema"])));
    for attribute in props["AttributeDefinitions"]
        .as_sequence()
        .expect("AttributeDefinitions")
    {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(text(&attribute["AttributeName"]))
                .attribute_type(ScalarAttributeType::from(
                    text(&attribute["AttributeType"]).as_str(),
                ))
                .build()
                .expect("valid attribute definition"),
        );
    }
    for index in props["GlobalSecondaryIndexes"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(text(&index["IndexName"]))
                .set_key_schema(Some(key_schema(&index["KeySchema"])))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            text(&index["Projection"]["ProjectionType"]).as_str(),
                        ))
                        .build(),
                )
                .build()
                .expect("valid index"),
        );
    }
    request.send().await.expect("moto creates the table");
}

pub async fn sqs_client() -> aws_sdk_sqs::Client {
    crate::aws::sqs(&sdk_config().await)
}

/// A fresh queue; FIFO ones are named `*.fifo` as SQS requires.
pub async fn queue(client: &aws_sdk_sqs::Client, fifo: bool) -> String {
    let mut name = unique_name("queue");
    let mut request = client.create_queue();
    if fifo {
        name.push_str(".fifo");
        request = request.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
    }
    request
        .queue_name(name)
        .send()
        .await
        .expect("moto creates the queue")
        .queue_url
        .expect("a queue URL")
}

/// Receives and deletes everything in the queue; returns the bodies in receive order.
pub async fn drain(client: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let output = client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive from moto");
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            return bodies;
        }
        for message in messages {
            client
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle.unwrap_or_default())
                .send()
                .await
                .expect("delete from moto");
            bodies.push(message.body.unwrap_or_default());
        }
    }
}

/// A new reseller with the given status, stored.
pub async fn partner(
    store: &DynamoStore,
    status: crate::domain::PartnerStatus,
) -> crate::domain::Partner {
    use crate::store::Partners;
    let partner = crate::domain::Partner::new(
        "Acme",
        crate::domain::PartnerKind::Reseller,
        "US",
        status,
        chrono::Utc::now(),
    )
    .expect("a valid partner");
    store
        .create_partner(&partner)
        .await
        .expect("moto stores the partner");
    partner
}

/// A deal service over a fresh table (with the SKUs the tests and events/ use) and fresh queues.
/// `auto_approve_below` is "<amount> <currency>", or `None` for no auto-approval.
pub async fn deal_service(auto_approve_below: Option<&str>) -> crate::workflow::deals::DealService {
    use crate::domain::Money;
    use crate::domain::deal::AutoApprovalPolicy;
    use crate::store::Catalog;
    use crate::workflow::deals::{DealService, DealSettings};
    use chrono::Duration;

    let store = table().await;
    let skus =
        ["NW-SWITCH-24", "SKU-1", "SKU-2"].map(|sku| (sku.to_string(), format!("product {sku}")));
    store.put_skus(&skus).await.expect("moto stores the SKUs");
    let sqs = sqs_client().await;
    let default_threshold = auto_approve_below.map(|text| {
        let (amount, currency) = text.split_once(' ').expect("\"<amount> <currency>\"");
        Money::parse(amount, currency).expect("a valid threshold")
    });
    let settings = DealSettings {
        policy: AutoApprovalPolicy {
            default_threshold,
            tier_thresholds: vec![],
        },
        protection: Duration::days(90),
        review_sla_business_days: 2,
        warn_before_expiry: Duration::days(7),
        requeue_after: Duration::minutes(15),
        review_queue_url: queue(&sqs, false).await,
        notifications_queue_url: queue(&sqs, false).await,
    };
    DealService {
        store,
        publisher: crate::messaging::SqsPublisher::new(sqs),
        settings,
    }
}

/// A POS ingestion service over a fresh table, bucket (versioned, like the drop bucket) and
/// queues, with a distributor, a reseller ("Northwind Traders") and the SKUs NW-1 to NW-3.
pub struct PosFixture {
    pub service: crate::workflow::pos::PosIngest,
    pub bucket: String,
    pub distributor: crate::domain::PartnerId,
    pub reseller: crate::domain::PartnerId,
}

pub async fn pos_service(chunk_lines: usize) -> PosFixture {
    use crate::domain::{Partner, PartnerKind, PartnerStatus};
    use crate::store::{Catalog, Partners};
    use crate::workflow::pos::{PosIngest, PosSettings};

    let store = table().await;
    let skus = ["NW-1", "NW-2", "NW-3"].map(|sku| (sku.to_string(), format!("product {sku}")));
    store.put_skus(&skus).await.expect("moto stores the SKUs");
    let now = chrono::Utc::now();
    let distributor = Partner::new(
        "Fabrikam Distribution",
        PartnerKind::Distributor,
        "US",
        PartnerStatus::Active,
        now,
    )
    .expect("valid partner");
    let reseller = Partner::new(
        "Northwind Traders, Inc.",
        PartnerKind::Reseller,
        "US",
        PartnerStatus::Active,
        now,
    )
    .expect("valid partner");
    for partner in [&distributor, &reseller] {
        store
            .create_partner(partner)
            .await
            .expect("moto stores the partner");
    }
    let sdk = sdk_config().await;
    let s3 = crate::aws::s3(&sdk);
    let bucket = unique_name("drop").to_lowercase().replace('_', "-");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("moto creates the bucket");
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("moto enables versioning");
    let sqs = sqs_client().await;
    let settings = PosSettings {
        ingest_queue_url: queue(&sqs, false).await,
        sales_queue_url: queue(&sqs, false).await,
        stock_queue_url: queue(&sqs, false).await,
        chunk_lines,
        max_age_days: 400,
        write_concurrency: 4,
        time_reserve: std::time::Duration::from_secs(60),
        lease_seconds: 960,
        lines_per_message: 300,
        max_receives: 3,
    };
    PosFixture {
        service: PosIngest {
            store,
            s3,
            publisher: crate::messaging::SqsPublisher::new(sqs),
            settings,
        },
        bucket,
        distributor: distributor.id,
        reseller: reseller.id,
    }
}

/// A claim service over a fresh table, documents bucket and queues, with one active reseller.
/// Claims below 1,000 USD are approved automatically; above 5,000 USD they need pre-approval.
pub async fn claim_service() -> (
    crate::workflow::claims::ClaimService,
    crate::domain::Partner,
) {
    use crate::domain::claim::ClaimPolicy;
    use crate::workflow::claims::{ClaimService, ClaimSettings};
    let store = table().await;
    let partner = partner(&store, crate::domain::PartnerStatus::Active).await;
    let sdk = sdk_config().await;
    let s3 = crate::aws::s3(&sdk);
    let bucket = unique_name("docs").to_lowercase().replace('_', "-");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("moto creates the bucket");
    let sqs = sqs_client().await;
    let settings = ClaimSettings {
        policy: ClaimPolicy {
            deadline_days: 60,
            auto_approve_below: Some(crate::domain::Money::parse("1000", "USD").unwrap()),
            preapproval_above: Some(crate::domain::Money::parse("5000", "USD").unwrap()),
            max_document_bytes: 1 << 20,
        },
        documents_bucket: bucket,
        submitted_queue_url: queue(&sqs, false).await,
        notifications_queue_url: queue(&sqs, false).await,
        upload_expiry: std::time::Duration::from_secs(900),
    };
    let service = ClaimService {
        store,
        s3,
        publisher: crate::messaging::SqsPublisher::new(sqs),
        settings,
    };
    (service, partner)
}

/// An API Gateway request for handler tests: `sample` (an events/*.json HTTP event) with the
/// method, path (and query), JSON body and caller replaced; the route key and path parameters
/// are those of the template route the path matches (see [`routes::match_route`]).
pub fn api_request(
    sample: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
    role: &str,
    principal: &str,
) -> lambda_http::Request {
    let mut event: serde_json::Value = serde_json::from_str(sample).expect("a sample event");
    let (path_only, query) = path.split_once('?').unwrap_or((path, ""));
    event["requestContext"]["http"]["method"] = method.into();
    event["requestContext"]["http"]["path"] = path_only.into();
    event["rawPath"] = path_only.into();
    event["rawQueryString"] = query.into();
    // What the gateway passes: the template route the path matches, its parameters by name.
    let (route_key, parameters) =
        routes::match_route(method, path_only).unwrap_or(("$default", serde_json::json!({})));
    event["routeKey"] = route_key.into();
    event["requestContext"]["routeKey"] = route_key.into();
    event["pathParameters"] = parameters;
    event["requestContext"]["authorizer"]["lambda"]["role"] = role.into();
    event["requestContext"]["authorizer"]["lambda"]["principalId"] = principal.into();
    let object = event.as_object_mut().expect("an object");
    match body {
        Some(body) => {
            object.insert("body".into(), body.to_string().into());
        }
        None => {
            object.remove("body");
        }
    }
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event")
}

/// A handler's JSON response body.
pub fn response_json(response: &lambda_http::Response<lambda_http::Body>) -> serde_json::Value {
    serde_json::from_slice(response.body().as_ref()).expect("a JSON body")
}

/// An inventory service over a fresh table and queues, with SKUs NW-1 to NW-3 and two active
/// distributors. Stale after 7 days, quiet for 7 days, price changes credited a day after
/// their effective date.
pub async fn inventory_service() -> (
    crate::workflow::inventory::InventoryService,
    [crate::domain::PartnerId; 2],
) {
    use crate::store::{Catalog, Partners};
    use crate::workflow::inventory::{InventoryService, InventorySettings};
    let store = table().await;
    let skus = ["NW-1", "NW-2", "NW-3"].map(|sku| (sku.to_string(), format!("product {sku}")));
    store.put_skus(&skus).await.expect("moto stores the SKUs");
    let mut distributors = Vec::new();
    for name in ["Ingram", "TD Synnex"] {
        let partner = crate::domain::Partner::new(
            name,
            crate::domain::PartnerKind::Distributor,
            "US",
            crate::domain::PartnerStatus::Active,
            chrono::Utc::now(),
        )
        .expect("a valid distributor");
        store
            .create_partner(&partner)
            .await
            .expect("moto stores the partner");
        distributors.push(partner.id);
    }
    let sqs = sqs_client().await;
    let settings = InventorySettings {
        notifications_queue_url: queue(&sqs, false).await,
        stock_queue_url: queue(&sqs, false).await,
        default_stale_days: 7,
        quiet_days: 7,
        price_protection_delay_days: 1,
    };
    let service = InventoryService {
        store,
        publisher: crate::messaging::SqsPublisher::new(sqs),
        settings,
    };
    (service, distributors.try_into().expect("two distributors"))
}

/// An onboarding service over a fresh table, documents bucket and notifications queue:
/// agreement `2026-1`, document `tax_form`, training `sales-101` required; tiers Platinum
/// $10M/3, Gold $5M/2, Silver $1M/1; reminders after 7 days.
pub async fn onboarding_service() -> crate::workflow::onboarding::OnboardingService {
    use crate::domain::onboarding::{OnboardingPolicy, Step, parse_tier_rules};
    use crate::workflow::onboarding::{OnboardingService, OnboardingSettings};
    let store = table().await;
    let sdk = sdk_config().await;
    let s3 = crate::aws::s3(&sdk);
    let bucket = unique_name("onb").to_lowercase().replace('_', "-");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("moto creates the bucket");
    let sqs = sqs_client().await;
    let settings = OnboardingSettings {
        policy: OnboardingPolicy {
            required_steps: vec![Step::Agreement, Step::Compliance, Step::Training],
            agreement_version: "2026-1".into(),
            required_documents: vec!["tax_form".into()],
            required_trainings: vec!["sales-101".into()],
        },
        tier_rules: parse_tier_rules(
            "Platinum=10000000 USD/3;Gold=5000000 USD/2;Silver=1000000 USD/1",
        )
        .expect("valid rules"),
        invitation_days: 14,
        reminder_days: 7,
        documents_bucket: bucket,
        max_document_bytes: 1 << 20,
        notifications_queue_url: queue(&sqs, false).await,
        upload_expiry: std::time::Duration::from_secs(900),
    };
    OnboardingService {
        store,
        s3,
        publisher: crate::messaging::SqsPublisher::new(sqs),
        settings,
    }
}

/// An SQS batch of `bodies`, with message ids `m0`, `m1`... (for consumers' handler tests).
pub fn sqs_batch(bodies: Vec<String>) -> aws_lambda_events::sqs::SqsEvent {
    let mut event = aws_lambda_events::sqs::SqsEvent::default();
    event.records = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let mut record = aws_lambda_events::sqs::SqsMessage::default();
            record.message_id = Some(format!("m{i}"));
            record.body = Some(body);
            record
        })
        .collect();
    event
}

/// Inbound webhooks over one fresh table shared by the ingest side and the router (whose
/// workflows are the fixtures above: SKUs NW-1 to NW-3, two distributors, onboarding that
/// requires `sales-101`), with a fresh events queue.
pub struct WebhookFixture {
    pub ingest: crate::workflow::webhooks::WebhookIngest,
    pub router: crate::workflow::webhooks::WebhookRouter,
    pub distributors: [crate::domain::PartnerId; 2],
}

pub async fn webhooks() -> WebhookFixture {
    use crate::workflow::webhooks::{WebhookIngest, WebhookRouter};
    let (inventory, distributors) = inventory_service().await;
    let store = inventory.store.clone();
    let mut deals = deal_service(None).await;
    deals.store = store.clone();
    let mut onboarding = onboarding_service().await;
    onboarding.store = store.clone();
    let sqs = sqs_client().await;
    let ingest = WebhookIngest {
        store: store.clone(),
        publisher: crate::messaging::SqsPublisher::new(sqs.clone()),
        events_queue_url: queue(&sqs, false).await,
    };
    let router = WebhookRouter {
        store,
        publisher: ingest.publisher.clone(),
        events_queue_url: ingest.events_queue_url.clone(),
        deals,
        onboarding,
        inventory,
    };
    WebhookFixture {
        ingest,
        router,
        distributors,
    }
}

/// A notify service over a fresh table and deliveries queue and DLQ, allowed to deliver to
/// loopback (the tests' receivers), retrying after 1 s, 2 s... up to `max_attempts`.
pub async fn notify_service(max_attempts: u32) -> crate::workflow::notify::NotifyService {
    use crate::domain::webhook::AddressPolicy;
    use crate::workflow::notify::{NotifyService, NotifySettings};
    let store = table().await;
    let sqs = sqs_client().await;
    let policy = AddressPolicy {
        allow_loopback: true,
    };
    let timeout = std::time::Duration::from_secs(5);
    NotifyService {
        store,
        publisher: crate::messaging::SqsPublisher::new(sqs.clone()),
        client: crate::outbound::WebhookClient::new(policy, timeout).expect("a client"),
        settings: NotifySettings {
            deliveries_queue_url: queue(&sqs, false).await,
            deliveries_dlq_url: queue(&sqs, false).await,
            max_attempts,
            retry_base: std::time::Duration::from_secs(1),
            timeout,
            policy,
        },
    }
}

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Lowercase names.
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: String,
}

/// A webhook receiver on loopback for tests: answers each POST with the next status of its
/// script (then 200) and keeps what it received.
pub struct Receiver {
    pub url: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start(script: Vec<u16>) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}/hooks/tributary", listener.local_addr().unwrap());
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = received.clone();
        let script = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::from(
            script,
        )));
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                let script = script.clone();
                tokio::spawn(async move {
                    let mut data = Vec::new();
                    let mut buffer = [0u8; 8192];
                    let head_end = loop {
                        let Ok(n) = socket.read(&mut buffer).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        data.extend_from_slice(&buffer[..n]);
                        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                            break at;
                        }
                    };
                    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
                    let mut lines = head.split("\r\n");
                    let path = lines
                        .next()
                        .and_then(|l| l.split(' ').nth(1))
                        .unwrap_or_default()
                        .to_string();
                    let headers: std::collections::BTreeMap<String, String> = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                        .collect();
                    let length: usize = headers
                        .get("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = data[head_end + 4..].to_vec();
                    while body.len() < length {
                        let Ok(n) = socket.read(&mut buffer).await else {
                            return;
                        };
                        if n == 0 {
                            break;
                        }
                        body.extend_from_slice(&buffer[..n]);
                    }
                    let status = script.lock().unwrap().pop_front().unwrap_or(200);
                    log.lock().unwrap().push(Received {
                        path,
                        headers,
                        body: String::from_utf8_lossy(&body).to_string(),
                    });
                    let reply = format!(
                        "HTTP/1.1 {status} Scripted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { url, received }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}
