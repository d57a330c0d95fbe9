use chrono::Utc;
use rust_decimal::Decimal;

use super::*;

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn rules() -> Vec<TierRule> {
    parse_tier_rules("Silver=1000000 USD/1;Platinum=10000000 USD/3;Gold=5000000 USD/2").unwrap()
}

fn policy() -> OnboardingPolicy {
    OnboardingPolicy {
        required_steps: vec![Step::Agreement, Step::Compliance, Step::Training],
        agreement_version: "2026-1".into(),
        required_documents: vec!["tax_form".into()],
        required_trainings: vec!["sales-101".into()],
    }
}

fn application() -> Application {
    serde_json::from_value(serde_json::json!({
        "token": "inv_x", "company_name": "Wingtip Toys", "country": "FR",
        "tax_id": "FR123", "contact": {"name": "Ana", "email": "ana@wingtip.example"}
    }))
    .unwrap()
}

#[test]
fn tier_rules_parse_sorted_and_refuse_mistakes() {
    let rules = rules();
    let names: Vec<_> = rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Platinum", "Gold", "Silver"]);
    assert!(parse_tier_rules("Gold=5000000 USD").is_err());
    assert!(parse_tier_rules("Gold=5000000 USD/two").is_err());
    assert!(parse_tier_rules("Gold=5000000 USD/2;Silver=1000000 EUR/1").is_err());
    assert!(parse_tier_rules("Gold=-5 USD/2").is_err());
    assert_eq!(parse_tier_rules("").unwrap(), vec![]);
}

#[test]
fn tiers_at_their_boundaries() {
    let rules = rules();
    let tier = |sales: &str, certs| tier_for(&rules, dec(sales), certs).map(|r| r.name.as_str());
    assert_eq!(tier("10000000", 3), Some("Platinum"));
    assert_eq!(tier("9999999.99", 3), Some("Gold"));
    assert_eq!(tier("10000000", 2), Some("Gold"));
    assert_eq!(tier("5000000", 2), Some("Gold"));
    assert_eq!(tier("5000000", 1), Some("Silver"));
    assert_eq!(tier("1000000", 1), Some("Silver"));
    assert_eq!(tier("999999.99", 5), None);
    assert_eq!(tier("1000000", 0), None);
}

#[test]
fn tier_changes_say_up_or_down() {
    let rules = rules();
    let partner = PartnerId::generate();
    let now = Utc::now();
    let up = tier_change(&rules, &partner, Some("Silver"), dec("5000000"), 2, now).unwrap();
    assert_eq!(
        (up.to.as_deref(), up.direction.as_str()),
        (Some("Gold"), "upgrade")
    );
    let down = tier_change(&rules, &partner, Some("Gold"), dec("4999999.99"), 2, now).unwrap();
    assert_eq!(
        (down.to.as_deref(), down.direction.as_str()),
        (Some("Silver"), "downgrade")
    );
    let out = tier_change(&rules, &partner, Some("Silver"), dec("0"), 0, now).unwrap();
    assert_eq!((out.to, out.direction.as_str()), (None, "downgrade"));
    assert!(tier_change(&rules, &partner, Some("Gold"), dec("6000000"), 2, now).is_none());
    let first = tier_change(&rules, &partner, None, dec("1000000"), 1, now).unwrap();
    assert_eq!(first.direction, "upgrade");
}

#[test]
fn trailing_months_cross_the_year() {
    let day = |t: &str| t.parse::<NaiveDate>().unwrap();
    assert_eq!(
        trailing_months(day("2026-12-01")),
        ("2026-01".to_string(), "2026-12".to_string())
    );
    assert_eq!(
        trailing_months(day("2026-03-15")),
        ("2025-04".to_string(), "2026-03".to_string())
    );
}

#[test]
fn tokens_are_random_hashed_and_parsed_strictly() {
    let token = InvitationToken::generate();
    let again = InvitationToken::parse(token.reveal()).unwrap();
    assert_eq!(token.hash(), again.hash());
    assert_ne!(token.hash(), InvitationToken::generate().hash());
    assert!(InvitationToken::parse("inv_1234").is_none());
    assert!(InvitationToken::parse(&format!("trb_{}", "a".repeat(64))).is_none());
    assert!(!format!("{token:?}").contains(&token.reveal()[4..]));
}

#[test]
fn applications_name_every_fault() {
    let mut bad = application();
    bad.company_name = " ".into();
    bad.country = "France".into();
    bad.tax_id = String::new();
    bad.contact.email = "ana at wingtip".into();
    let errors = bad.check().unwrap_err();
    let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["company_name", "country", "tax_id", "contact.email"]
    );
    assert!(application().check().is_ok());
}

#[test]
fn progress_follows_the_policy_and_the_agreement_version() {
    let now = Utc::now();
    let mut onboarding = Onboarding::new(PartnerId::generate(), application(), now);
    let policy = policy();
    assert!(!onboarding.complete(&policy));
    onboarding.agreement = Some(AgreementAcceptance {
        version: "2026-1".into(),
        signer_name: "Ana".into(),
        signer_email: "ana@wingtip.example".into(),
        accepted_by: "ptn".into(),
        accepted_at: now,
    });
    onboarding.documents.insert(
        "tax_form".into(),
        ComplianceDocument {
            document_type: "tax_form".into(),
            file_name: "w9.pdf".into(),
            content_type: "application/pdf".into(),
            size: 10,
            key: "k".into(),
            status: DocumentStatus::Uploaded,
            reason: None,
            attempts: 1,
            updated_by: "ptn".into(),
            updated_at: now,
        },
    );
    onboarding.trainings.insert(
        "sales-101".into(),
        TrainingCompletion {
            course: "sales-101".into(),
            completed_on: now.date_naive(),
            source: "manager:m".into(),
            recorded_at: now,
        },
    );
    // Uploaded is not verified.
    let progress = onboarding.progress(&policy);
    assert_eq!(progress[1].missing, ["document tax_form verified"]);
    assert!(!onboarding.complete(&policy));
    onboarding.documents.get_mut("tax_form").unwrap().status = DocumentStatus::Verified;
    assert!(onboarding.complete(&policy));
    // A new agreement version requires acceptance again.
    let newer = OnboardingPolicy {
        agreement_version: "2027-1".into(),
        ..policy.clone()
    };
    assert!(!onboarding.complete(&newer));
    assert!(onboarding.progress(&newer)[0].missing[0].contains("accepted 2026-1"));
    // Steps not required do not hold activation back.
    let agreement_only = OnboardingPolicy {
        required_steps: vec![Step::Agreement],
        required_trainings: vec!["other".into()],
        ..policy
    };
    assert!(onboarding.complete(&agreement_only));
    assert_eq!(onboarding.certifications(), 1);
}

#[test]
fn documents_and_agreements_name_every_fault() {
    let policy = policy();
    let bad = DocumentRequest {
        document_type: "passport".into(),
        file_name: "../x.exe".into(),
        content_type: "application/x-msdownload".into(),
        size: 0,
    };
    let errors = bad.check(&policy, 1024).unwrap_err();
    let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["document_type", "file_name", "content_type", "size"]
    );
    let old = AgreementRequest {
        version: "2025-1".into(),
        signer_name: "Ana".into(),
        signer_email: "ana@wingtip.example".into(),
    };
    let errors = old.check(&policy).unwrap_err();
    assert_eq!(errors.0[0].field, "version");
}
