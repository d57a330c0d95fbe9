//! `chanctl`: the administrator's command line. It talks to the table directly with the same store
//! code the functions use, so it works against the local stack (`AWS_ENDPOINT_URL` or
//! `--endpoint-url`) and a deployed stack (`--table` from the stack's `TableName` output) alike.

mod pos_check;

use std::process::ExitCode;

use chrono::Utc;
use clap::{Parser, Subcommand};
use serde::Serialize;
use tributary::domain::{
    ApiKey, ApiKeyRecord, KeyId, KeyStatus, Partner, PartnerId, PartnerKind, PartnerStatus, Role,
};
use tributary::store::{ApiKeys, Catalog, DynamoStore, Partners, StoreError};

#[derive(Parser)]
#[command(
    name = "chanctl",
    version,
    about = "Tributary admin tool: partners, API keys, demo data"
)]
struct Cli {
    /// The DynamoDB table (the stack's TableName output).
    #[arg(long, env = "TABLE_NAME", global = true)]
    table: Option<String>,
    /// Send AWS calls here instead of AWS (the local stack's moto server); AWS_ENDPOINT_URL works too.
    #[arg(long, global = true)]
    endpoint_url: Option<String>,
    /// Print results as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Partner (reseller or distributor) records.
    #[command(subcommand)]
    Partner(PartnerCommand),
    /// API keys: issue (shown once), revoke, list.
    #[command(subcommand)]
    Key(KeyCommand),
    /// The product catalog deals and POS lines are checked against.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Distributor files.
    #[command(subcommand)]
    Pos(PosCommand),
    /// Create demo partners and keys and print the keys. Local endpoints only: the demo includes a
    /// vendor_admin key.
    SeedDemo,
}

#[derive(Subcommand)]
enum PartnerCommand {
    Create {
        #[arg(long)]
        name: String,
        /// ISO 3166-1 alpha-2 country code.
        #[arg(long)]
        country: String,
        #[arg(long, default_value = "reseller", value_parser = parse::<PartnerKind>)]
        kind: PartnerKind,
        #[arg(long, default_value = "pending", value_parser = parse::<PartnerStatus>)]
        status: PartnerStatus,
    },
    Get {
        id: PartnerId,
    },
    List,
    /// Set the status (`active` opens deal registration and claims to the partner; `inactive`
    /// also revokes every key of the partner and disables the subscriptions it made).
    SetStatus {
        id: PartnerId,
        #[arg(value_parser = parse::<PartnerStatus>)]
        status: PartnerStatus,
    },
}

#[derive(Subcommand)]
enum PosCommand {
    /// Check a file locally (no AWS): the detected format, the column mapping, the verdicts and
    /// the reject report ingestion would produce.
    Check(pos_check::CheckArgs),
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Add (or rename) a SKU.
    Add {
        sku: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Issue a key. The key is printed once and cannot be retrieved again.
    Issue {
        #[arg(long, value_parser = parse::<Role>)]
        role: Role,
        /// A partner id for partner and distributor keys; a user name for vendor staff.
        #[arg(long)]
        principal: String,
        #[arg(long)]
        label: Option<String>,
    },
    Revoke {
        key_id: KeyId,
    },
    List {
        #[arg(long)]
        principal: String,
    },
}

pub(crate) fn parse<T: std::str::FromStr<Err = String>>(value: &str) -> Result<T, String> {
    value.parse()
}

#[derive(Debug)]
pub(crate) struct Failure(pub(crate) String);

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        Failure(err.to_string())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tributary::telemetry::init_cli();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("chanctl: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let out = Output { json: cli.json };
    if let Command::Pos(PosCommand::Check(args)) = cli.command {
        return pos_check::check(args, &out);
    }
    let local_endpoint =
        cli.endpoint_url.is_some() || std::env::var_os("AWS_ENDPOINT_URL").is_some();
    if matches!(cli.command, Command::SeedDemo) && !local_endpoint {
        return Err(Failure(
            "seed-demo creates well-known demo keys (a vendor_admin one among them) and only runs \
             against a local endpoint: pass --endpoint-url or set AWS_ENDPOINT_URL"
                .into(),
        ));
    }
    let table = cli.table.ok_or_else(|| {
        Failure("no table: pass --table or set TABLE_NAME (the stack's TableName output)".into())
    })?;
    let mut loader = tributary::aws::loader();
    if let Some(url) = &cli.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let store = DynamoStore::new(tributary::aws::dynamodb(&loader.load().await), table);
    match cli.command {
        Command::Partner(command) => partner(&store, &out, command).await,
        Command::Key(command) => key(&store, &out, command).await,
        Command::Catalog(CatalogCommand::Add { sku, name }) => {
            let sku = sku.trim().to_string();
            if sku.is_empty() || sku.len() > 64 || sku.chars().any(char::is_whitespace) {
                return Err(Failure(format!(
                    "{sku:?} is not a SKU (1-64 characters, no spaces)"
                )));
            }
            let entry = tributary::domain::catalog::CatalogEntry {
                sku: sku.clone(),
                name: name.clone(),
                cost: None,
            };
            store
                .put_entries_as_of(&[entry], chrono::Utc::now())
                .await?;
            out.show(&serde_json::json!({"sku": sku, "name": name}), || {
                format!("catalog: {sku} ({name})")
            });
            Ok(())
        }
        Command::SeedDemo => seed_demo(&store, &out).await,
        Command::Pos(_) => unreachable!("handled before the table is needed"),
    }
}

pub(crate) struct Output {
    json: bool,
}

impl Output {
    pub(crate) fn show<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).expect("serialisable")
            );
        } else {
            println!("{}", human());
        }
    }
}

async fn partner(
    store: &DynamoStore,
    out: &Output,
    command: PartnerCommand,
) -> Result<(), Failure> {
    match command {
        PartnerCommand::Create {
            name,
            country,
            kind,
            status,
        } => {
            let partner = Partner::new(&name, kind, &country, status, Utc::now())
                .map_err(|e| Failure(e.to_string()))?;
            store.create_partner(&partner).await?;
            out.show(&partner, || {
                format!(
                    "created partner {} ({}, {})",
                    partner.id, partner.name, partner.status
                )
            });
        }
        PartnerCommand::Get { id } => {
            let partner = store
                .get_partner(&id)
                .await?
                .ok_or_else(|| Failure(format!("partner {id} not found")))?;
            out.show(&partner, || describe(&partner));
        }
        PartnerCommand::List => {
            let partners = store.list_partners().await?;
            out.show(&partners, || {
                partners.iter().map(describe).collect::<Vec<_>>().join("\n")
            });
        }
        PartnerCommand::SetStatus { id, status } => {
            let current = store
                .get_partner(&id)
                .await?
                .ok_or_else(|| Failure(format!("partner {id} not found")))?;
            let updated = store
                .set_partner_status(&id, status, current.version, Utc::now())
                .await?;
            if status == PartnerStatus::Inactive {
                revoke_all_keys(store, id.as_str()).await?;
                tributary::workflow::notify::disable_partner_subscriptions(store, &id, Utc::now())
                    .await?;
            }
            out.show(&updated, || describe(&updated));
        }
    }
    Ok(())
}

/// Offboarding keeps the history but ends access: every active key of the principal is revoked.
async fn revoke_all_keys(store: &DynamoStore, principal: &str) -> Result<(), Failure> {
    for key in store.list_keys(principal).await? {
        if key.status == KeyStatus::Active {
            match store.revoke_key(&key.key_id, Utc::now()).await {
                // Revoked meanwhile by someone else: the outcome is the same.
                Ok(_) | Err(StoreError::Conflict(_)) => {}
                Err(err) => return Err(err.into()),
            }
        }
    }
    Ok(())
}

fn describe(partner: &Partner) -> String {
    format!(
        "{}  {:<8}  {:<11}  {}  {}",
        partner.id,
        partner.status.as_str(),
        partner.kind.as_str(),
        partner.country,
        partner.name
    )
}

#[derive(Serialize)]
struct IssuedKey {
    key_id: String,
    role: Role,
    principal: String,
    /// Shown once: only its hash is stored.
    api_key: String,
}

async fn issue_key(
    store: &DynamoStore,
    role: Role,
    principal: &str,
    label: Option<String>,
) -> Result<IssuedKey, Failure> {
    role.check_principal(principal).map_err(Failure)?;
    if role.acts_for_organisation() {
        let id: PartnerId = principal
            .parse()
            .map_err(|e: tributary::domain::ids::InvalidId| Failure(e.to_string()))?;
        let partner = store
            .get_partner(&id)
            .await?
            .ok_or_else(|| Failure(format!("partner {id} not found: create it first")))?;
        let expected = if role == Role::Distributor {
            PartnerKind::Distributor
        } else {
            PartnerKind::Reseller
        };
        if partner.kind != expected {
            return Err(Failure(format!(
                "partner {id} is a {}; a {role} key needs a {}",
                partner.kind.as_str(),
                expected.as_str()
            )));
        }
    }
    let key = ApiKey::generate();
    let record = ApiKeyRecord::issue(&key, principal.to_string(), role, label, Utc::now());
    store.put_new_key(&record).await?;
    Ok(IssuedKey {
        key_id: record.key_id.to_string(),
        role,
        principal: principal.to_string(),
        api_key: key.reveal().to_string(),
    })
}

#[derive(Serialize)]
struct KeyView {
    key_id: String,
    role: Role,
    principal: String,
    status: String,
    label: Option<String>,
    created_at: String,
    revoked_at: Option<String>,
}

impl From<&ApiKeyRecord> for KeyView {
    fn from(record: &ApiKeyRecord) -> Self {
        Self {
            key_id: record.key_id.to_string(),
            role: record.role,
            principal: record.principal_id.clone(),
            status: record.status.as_str().to_string(),
            label: record.label.clone(),
            created_at: record.created_at.to_rfc3339(),
            revoked_at: record.revoked_at.map(|t| t.to_rfc3339()),
        }
    }
}

async fn key(store: &DynamoStore, out: &Output, command: KeyCommand) -> Result<(), Failure> {
    match command {
        KeyCommand::Issue {
            role,
            principal,
            label,
        } => {
            let issued = issue_key(store, role, &principal, label).await?;
            out.show(&issued, || {
                format!(
                    "issued {} key {} for {}\n\n    {}\n\nStore it now: it is shown once and cannot be retrieved again.",
                    issued.role, issued.key_id, issued.principal, issued.api_key
                )
            });
        }
        KeyCommand::Revoke { key_id } => {
            let record = store.revoke_key(&key_id, Utc::now()).await?;
            let view = KeyView::from(&record);
            out.show(&view, || {
                format!("revoked key {} of {}", view.key_id, view.principal)
            });
        }
        KeyCommand::List { principal } => {
            let keys: Vec<KeyView> = store
                .list_keys(&principal)
                .await?
                .iter()
                .map(KeyView::from)
                .collect();
            out.show(&keys, || {
                keys.iter()
                    .map(|k| {
                        format!(
                            "{}  {:<15}  {:<7}  {}",
                            k.key_id,
                            k.role.as_str(),
                            k.status,
                            k.created_at
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}

/// The demo catalog (the sample events in events/ use these SKUs).
const DEMO_SKUS: [(&str, &str); 3] = [
    ("NW-SWITCH-24", "24-port managed switch"),
    ("NW-ROUTER-100", "Branch router 100"),
    ("SEC-FW-500", "Firewall appliance 500"),
];

#[derive(Serialize)]
struct Demo {
    skus: Vec<&'static str>,
    partners: Vec<Partner>,
    keys: Vec<IssuedKey>,
    revoked_key: IssuedKey,
}

/// Demo data: three active organisations, one pending, a key per role, and one revoked key.
async fn seed_demo(store: &DynamoStore, out: &Output) -> Result<(), Failure> {
    let now = Utc::now();
    let skus: Vec<(String, String)> = DEMO_SKUS
        .iter()
        .map(|(s, n)| (s.to_string(), n.to_string()))
        .collect();
    store.put_skus(&skus).await?;
    let specs = [
        (
            "Northwind Resellers",
            PartnerKind::Reseller,
            "US",
            PartnerStatus::Active,
        ),
        (
            "Contoso Integrators GmbH",
            PartnerKind::Reseller,
            "DE",
            PartnerStatus::Active,
        ),
        (
            "Fabrikam Distribution",
            PartnerKind::Distributor,
            "US",
            PartnerStatus::Active,
        ),
        (
            "Tailspin Networks",
            PartnerKind::Reseller,
            "GB",
            PartnerStatus::Pending,
        ),
    ];
    let mut partners = Vec::new();
    for (name, kind, country, status) in specs {
        let partner =
            Partner::new(name, kind, country, status, now).map_err(|e| Failure(e.to_string()))?;
        store.create_partner(&partner).await?;
        partners.push(partner);
    }
    let label = || Some(String::from("demo"));
    let keys = vec![
        issue_key(store, Role::Partner, partners[0].id.as_str(), label()).await?,
        issue_key(store, Role::Partner, partners[1].id.as_str(), label()).await?,
        issue_key(store, Role::Distributor, partners[2].id.as_str(), label()).await?,
        issue_key(
            store,
            Role::ChannelManager,
            "manager@vendor.example",
            label(),
        )
        .await?,
        issue_key(store, Role::VendorAdmin, "admin@vendor.example", label()).await?,
    ];
    let revoked_key = issue_key(store, Role::Partner, partners[0].id.as_str(), label()).await?;
    let revoked_id: KeyId = revoked_key
        .key_id
        .parse()
        .map_err(|e: tributary::domain::ids::InvalidId| Failure(e.to_string()))?;
    store.revoke_key(&revoked_id, now).await?;
    let demo = Demo {
        skus: DEMO_SKUS.iter().map(|(sku, _)| *sku).collect(),
        partners,
        keys,
        revoked_key,
    };
    out.show(&demo, || {
        let mut text = format!("Demo catalog: {}\n\nDemo partners:\n", demo.skus.join(", "));
        for partner in &demo.partners {
            text.push_str(&format!("  {}\n", describe(partner)));
        }
        text.push_str("\nDemo API keys (shown once):\n");
        for key in &demo.keys {
            text.push_str(&format!(
                "  {:<15} {:<30} {}\n",
                key.role.as_str(),
                key.principal,
                key.api_key
            ));
        }
        text.push_str(&format!(
            "  revoked key of {}: {}\n",
            demo.revoked_key.principal, demo.revoked_key.api_key
        ));
        text
    });
    Ok(())
}
